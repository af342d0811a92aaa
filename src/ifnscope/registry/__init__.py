"""The registry: patients, visits, samples and IFN scores, treatments, users and the audit log."""

"""Reading one patient's record from a FHIR server: the searches a CDS Hooks prefetch or a
registry import asks for, with a bearer token, each followed through its pages (next links on
the same server only). httpx is the client; a refusal, a timeout or an answer that is not FHIR
JSON is ``fhir.server``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from ifnscope.errors import FhirError

TIMEOUT_SECONDS = 5
MAX_PAGES = 20
# What a record needs for the criteria: the patient, the problem list, laboratory results and
# medications (the CDS Hooks service's prefetch asks for the same; data/fhir/cds_services.yaml).
PATIENT_QUERIES = {
    "patient": "Patient/{id}",
    "conditions": "Condition?patient={id}",
    "labs": "Observation?patient={id}&category=laboratory",
    "medicationRequests": "MedicationRequest?patient={id}",
    "medicationStatements": "MedicationStatement?patient={id}",
}


def check_base(base_url: str) -> str:
    """The server's base URL, normalised (http(s), host, path ending in /)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise FhirError("a FHIR server base URL is http(s)://host/path, without a query", code="fhir.server")
    return base_url.rstrip("/") + "/"


def read_queries(base_url: str, token: str | None, queries: dict[str, str]) -> list[dict[str, Any]]:
    """The resources each relative query (``Condition?patient=123``) returns, every page."""
    import httpx

    base = check_base(base_url)
    origin = urlsplit(base).netloc
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    out: list[dict[str, Any]] = []
    with httpx.Client(timeout=TIMEOUT_SECONDS, headers=headers, follow_redirects=False) as client:
        for key, query in queries.items():
            url: str | None = urljoin(base, query)
            pages = 0
            while url and pages < MAX_PAGES:
                if urlsplit(url).netloc != origin:
                    raise FhirError("a next-page link points away from the FHIR server", code="fhir.server")
                try:
                    r = client.get(url)
                except httpx.HTTPError as exc:
                    raise FhirError(
                        f"the FHIR server could not be read ({type(exc).__name__})", code="fhir.server"
                    ) from None
                if r.status_code >= 400:
                    raise FhirError(f"the FHIR server answered {r.status_code} for {key}", code="fhir.server")
                try:
                    doc = r.json()
                except ValueError:
                    raise FhirError(
                        f"the FHIR server's answer for {key} is not JSON", code="fhir.server"
                    ) from None
                if not isinstance(doc, dict):
                    raise FhirError(
                        f"the FHIR server's answer for {key} is not a resource", code="fhir.server"
                    )
                out.append(doc)
                pages += 1
                url = next(
                    (
                        str(link.get("url"))
                        for link in doc.get("link") or []
                        if isinstance(link, dict) and link.get("relation") == "next"
                    ),
                    None,
                )
    return out


def read_patient(base_url: str, token: str | None, patient_id: str) -> list[dict[str, Any]]:
    """One patient's record (:data:`PATIENT_QUERIES`) from a FHIR server."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", patient_id):
        raise FhirError("not a FHIR resource id", code="fhir.patient")
    return read_queries(base_url, token, {k: q.format(id=patient_id) for k, q in PATIENT_QUERIES.items()})

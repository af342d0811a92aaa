"""Clinical depth beyond classification: differential, triggers, screening, therapy."""

"""Reading one patient's record from a FHIR server: the searches a CDS Hooks prefetch or a
registry import asks for, with a bearer token, each followed through its pages (next links on
the same server only). httpx is the client; a refusal, a timeout or an answer that is not FHIR
JSON is ``fhir.server``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from ifnscope.errors import FhirError

TIMEOUT_SECONDS = 5  # per request (connect, each read)
DEADLINE_SECONDS = 20  # the whole record, every search and page
MAX_PAGES = 20  # per search; more is an error, never a record cut short
MAX_BYTES = 50 * 1024 * 1024  # the whole record (as the file import's cap)


def check_base(base_url: str) -> str:
    """The server's base URL, normalised (http(s), host, path ending in /)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise FhirError("a FHIR server base URL is http(s)://host/path, without a query", code="fhir.server")
    return base_url.rstrip("/") + "/"


def read_queries(
    base_url: str, token: str | None, queries: dict[str, str], *, deadline_seconds: float = DEADLINE_SECONDS
) -> list[dict[str, Any]]:
    """The resources each relative query (``Condition?patient=123``) returns, every page: within
    one overall deadline, at most :data:`MAX_BYTES` in all, next-page links only under the base
    URL (the token never goes elsewhere), and an error rather than a record cut short."""
    import json
    import time

    import httpx

    base = check_base(base_url)
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    out: list[dict[str, Any]] = []
    stop = time.monotonic() + deadline_seconds
    budget = MAX_BYTES
    with httpx.Client(timeout=TIMEOUT_SECONDS, headers=headers, follow_redirects=False) as client:
        for key, query in queries.items():
            url: str | None = urljoin(base, query)
            pages = 0
            while url:
                if not url.startswith(base):
                    raise FhirError(
                        "a next-page link points away from the FHIR server's base URL", code="fhir.server"
                    )
                if pages == MAX_PAGES:
                    raise FhirError(
                        f"{key}: more than {MAX_PAGES} pages; the record was not read whole",
                        code="fhir.server",
                    )
                body = bytearray()
                try:
                    with client.stream("GET", url) as r:
                        if r.status_code >= 400:
                            raise FhirError(
                                f"the FHIR server answered {r.status_code} for {key}", code="fhir.server"
                            )
                        for chunk in r.iter_bytes():
                            body += chunk
                            if len(body) > budget:
                                raise FhirError(
                                    f"the record is over {MAX_BYTES // 1_000_000} MB", code="fhir.server"
                                )
                            if time.monotonic() > stop:
                                raise FhirError(
                                    f"the FHIR server took longer than {deadline_seconds:g} s",
                                    code="fhir.server",
                                )
                except httpx.HTTPError as exc:
                    raise FhirError(
                        f"the FHIR server could not be read ({type(exc).__name__})", code="fhir.server"
                    ) from None
                budget -= len(body)
                try:
                    doc = json.loads(bytes(body))
                except (ValueError, RecursionError):
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
    """One patient's record from a FHIR server: the searches of the CDS Hooks service's prefetch
    (``data/fhir/cds_services.yaml``: patient, problem list, laboratory results, medications),
    filled with the patient's id, so that both read the same record."""
    import re

    from ifnscope.cds import services

    if not re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", patient_id):
        raise FhirError("not a FHIR resource id", code="fhir.patient")
    (service,) = services().values()
    queries = {k: t.replace("{{context.patientId}}", patient_id) for k, t in service.prefetch.items()}
    return read_queries(base_url, token, queries)

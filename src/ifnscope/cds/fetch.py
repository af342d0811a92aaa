"""Reading what the prefetch did not bring from the EHR's FHIR server, with the access token
the hook request gave (``fhirAuthorization``): the prefetch templates, filled from the context,
each followed through its pages (next links on the same server only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

from ifnscope.cds import HookRequest, Service, fill_template
from ifnscope.errors import FhirError

TIMEOUT_SECONDS = 5  # the whole call should answer within the EHR's patience (about 500 ms)
MAX_PAGES = 20


def fetch(request: HookRequest, service: Service, keys: list[str]) -> list[dict[str, Any]]:
    """The resources the templates ``keys`` name, read from ``request.fhirServer``."""
    import httpx

    assert request.fhirServer is not None
    assert request.fhirAuthorization is not None
    base = request.fhirServer.rstrip("/") + "/"
    origin = urlsplit(base)
    if origin.scheme not in ("https", "http") or not origin.netloc:
        raise FhirError("fhirServer is not an http(s) URL", code="fhir.server")
    headers = {
        "Authorization": f"Bearer {request.fhirAuthorization.access_token}",
        "Accept": "application/fhir+json",
    }
    out: list[dict[str, Any]] = []
    with httpx.Client(timeout=TIMEOUT_SECONDS, headers=headers, follow_redirects=False) as client:
        for key in keys:
            try:
                url: str | None = urljoin(base, fill_template(service.prefetch[key], request))
            except ValueError as exc:
                raise FhirError(str(exc), code="fhir.server") from None
            pages = 0
            while url and pages < MAX_PAGES:
                if urlsplit(url).netloc != origin.netloc:
                    raise FhirError("a next-page link points away from the FHIR server", code="fhir.server")
                try:
                    r = client.get(url)
                except httpx.HTTPError as exc:
                    raise FhirError(
                        f"the FHIR server could not be read ({type(exc).__name__})", code="fhir.server"
                    ) from None
                if r.status_code == 404 and key == "patient":
                    raise FhirError("the FHIR server has no such patient", code="fhir.server")
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

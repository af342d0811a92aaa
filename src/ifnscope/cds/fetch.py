"""Reading what the prefetch did not bring from the EHR's FHIR server, with the access token
the hook request gave (``fhirAuthorization``): the prefetch templates, filled from the context
(``ifnscope.fhir._server`` does the reading)."""

from __future__ import annotations

from typing import Any

from ifnscope.cds import HookRequest, Service, fill_template
from ifnscope.errors import FhirError


def fetch(request: HookRequest, service: Service, keys: list[str]) -> list[dict[str, Any]]:
    """The resources the templates ``keys`` name, read from ``request.fhirServer``."""
    from ifnscope.fhir._server import read_queries

    assert request.fhirServer is not None
    assert request.fhirAuthorization is not None
    try:
        queries = {key: fill_template(service.prefetch[key], request) for key in keys}
    except ValueError as exc:
        raise FhirError(str(exc), code="fhir.server") from None
    # the EHR waits for the cards: a short deadline, not the registry import's
    return read_queries(
        request.fhirServer, request.fhirAuthorization.access_token, queries, deadline_seconds=5
    )

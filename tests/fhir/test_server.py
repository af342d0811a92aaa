"""Reading a record from a FHIR server (ifnscope.fhir._server): every page, within limits, and
never a record silently cut short or a token sent elsewhere."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from ifnscope.errors import FhirError
from ifnscope.fhir._server import MAX_PAGES, read_queries


class _Pages(BaseHTTPRequestHandler):
    """Observation pages: ?page=N links to N+1 up to ``last``; ``away`` links off the base."""

    last: ClassVar[int] = 3
    away: ClassVar[str | None] = None
    tokens: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).tokens.append(self.headers.get("Authorization"))
        n = int(self.path.rsplit("page=", 1)[1]) if "page=" in self.path else 1
        base = f"http://127.0.0.1:{self.server.server_address[1]}/fhir"
        doc: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
        if self.away and n == 1:
            doc["link"] = [{"relation": "next", "url": self.away}]
        elif n < self.last:
            doc["link"] = [{"relation": "next", "url": f"{base}/Observation?patient=p1&page={n + 1}"}]
        data = json.dumps(doc).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Pages.last, _Pages.away, _Pages.tokens = 3, None, []
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()


def test_every_page_is_read_with_the_token(base: str) -> None:
    docs = read_queries(base, "tok", {"labs": "Observation?patient=p1"})
    assert len(docs) == 3
    assert _Pages.tokens == ["Bearer tok"] * 3


def test_too_many_pages_is_an_error_not_a_record_cut_short(base: str) -> None:
    _Pages.last = MAX_PAGES + 5
    with pytest.raises(FhirError) as err:
        read_queries(base, "tok", {"labs": "Observation?patient=p1"})
    assert "was not read whole" in err.value.message


def test_a_next_link_off_the_base_url_never_gets_the_token(base: str) -> None:
    _Pages.away = base.replace("/fhir", "/admin/secret")  # same host, another path
    with pytest.raises(FhirError) as err:
        read_queries(base, "tok", {"labs": "Observation?patient=p1"})
    assert "away from the FHIR server's base URL" in err.value.message
    assert len(_Pages.tokens) == 1  # the first page only


def test_a_slow_server_meets_the_deadline(base: str) -> None:
    _Pages.last = 3
    with pytest.raises(FhirError) as err:
        read_queries(base, None, {"labs": "Observation?patient=p1"}, deadline_seconds=0)
    assert "took longer than" in err.value.message

"""Fixtures of the web tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one browser-test module (tests/web/browser_kit.py; importing the kit skips
    the module loudly when /usr/bin/chromium is missing)."""
    from tests.web.browser_kit import launch

    with launch() as b:
        yield b


@pytest.fixture(scope="module")
def doc(app: Any) -> Any:
    """The clinician ``doc`` logged in to the module's ``app`` through the HTML pages
    (``tests.web.test_pages.Browser``); a module with its own ``doc`` overrides this."""
    from tests.web.test_pages import Browser

    return Browser(app, "doc")


@pytest.fixture(scope="module")
def res(app: Any) -> Any:
    """The researcher ``res``, as :func:`doc`."""
    from tests.web.test_pages import Browser

    return Browser(app, "res")

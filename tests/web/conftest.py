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

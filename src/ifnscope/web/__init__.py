"""The web application: the JSON API under /api (and, from ifnscope.web.pages, the HTML pages).

``create_app`` (app.py) is the factory; ``Settings`` (settings.py) its configuration.
"""

from __future__ import annotations

from ifnscope.web.app import create_app
from ifnscope.web.settings import Settings

__all__ = ["Settings", "create_app"]

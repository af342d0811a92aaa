"""ifnscope: decision support for cutaneous lupus and dermatomyositis, and type I interferon
signatures on expression data.

The public API is small: ``load_case`` reads a case file, ``assess`` applies every criteria
set to it. Everything with clinical meaning comes from the packaged data files, each row
with its citation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "assess", "load_case"]


def __getattr__(name: str) -> Callable[..., Any]:  # lazy: keep `import ifnscope` (and CLI start-up) cheap
    if name == "load_case":
        from ifnscope.case.reader import load_case

        return load_case
    if name == "assess":
        from ifnscope.assessment import assess

        return assess
    raise AttributeError(name)

"""Packaged reference data: every number with clinical meaning lives in these files.

Loaded once per process (the files are small); a malformed file is a :class:`DataError`
naming the file, because it is ifnscope's bug, not the user's.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from ifnscope.errors import DataError

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

try:  # the C loader is ~10x faster; fall back where libyaml is missing
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


@cache
def load_yaml(name: str) -> Any:
    """Read ``ifnscope/data/<name>`` (a relative path, e.g. ``criteria/iim_2017.yaml``)."""
    try:
        text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"packaged data file {name!r} is missing", code="data.missing") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise DataError(f"packaged data file {name!r} is not valid YAML: {exc}") from exc


def load_table(name: str, model: type[M]) -> M:
    """Read ``ifnscope/data/<name>`` and validate it with ``model`` (a pydantic model).

    A malformed table is a :class:`DataError` naming the file: a bug in ifnscope's data,
    never a silently wrong answer."""
    try:
        return model.model_validate(load_yaml(name))
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{name} is malformed: {exc}") from exc


@cache
def sources() -> dict[str, dict[str, Any]]:
    """The bibliography: id -> {citation, doi?, url?, read}.

    ``sources.yaml`` holds the criteria and signature sources; each clinical part keeps its
    own bibliography in ``sources/<part>.yaml`` beside it, so that a part's sources are read
    and reviewed together. An id defined twice is an error, never a silent override.
    """
    merged: dict[str, dict[str, Any]] = {}
    parts = sorted(
        f"sources/{p.name}"
        for p in resources.files(__name__).joinpath("sources").iterdir()
        if p.name.endswith(".yaml")
    )
    files = ["sources.yaml", *parts]
    for name in files:
        data = load_yaml(name)
        if not isinstance(data, dict):
            raise DataError(f"{name} must be a mapping of source id to citation")
        for sid, entry in data.items():
            if sid in merged:
                raise DataError(f"source id {sid!r} is defined twice (again in {name})")
            if not isinstance(entry, dict) or not entry.get("citation"):
                raise DataError(f"{name}: source {sid!r} has no citation")
            merged[sid] = entry
    return merged


# Data the case assessment never reads (the expression-data side): a new gene table or signature
# must not mark every stored assessment as made by other rules.
_NOT_ASSESSMENT_RULES = ("genes/", "signatures/")


def rules_files() -> list[tuple[str, Traversable]]:
    """The packaged data files that make an assessment (every rule table and its sources), sorted."""
    files = _data_files(resources.files(__name__), "")
    return sorted(f for f in files if not f[0].startswith(_NOT_ASSESSMENT_RULES))


@cache
def rules_version() -> str:
    """The version of the rules that make an assessment: the ifnscope version and a short
    SHA-256 of every packaged data file the assessment reads (names and contents), e.g.
    ``0.1.0+3f2a9c0d1e4b``.

    Stored with an assessment, it tells a later reader whether a re-run would use the same
    rules: a corrected table changes it even when the version number does not. Computed once
    per process."""
    from ifnscope import __version__

    digest = hashlib.sha256()
    for name, entry in rules_files():
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(entry.read_bytes())
        digest.update(b"\0")
    return f"{__version__}+{digest.hexdigest()[:12]}"


def _data_files(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    """Every packaged data file below ``folder`` (not the Python sources), with its relative name."""
    out: list[tuple[str, Traversable]] = []
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                out += _data_files(entry, name + "/")
        elif not entry.name.endswith((".py", ".pyc")):
            out.append((name, entry))
    return out


def citation(source_id: str) -> str:
    """Full citation text for a source id, with DOI or URL when known."""
    try:
        entry = sources()[source_id]
    except KeyError as exc:
        raise DataError(f"unknown source id {source_id!r} (not in sources.yaml)") from exc
    text = " ".join(str(entry["citation"]).split()).rstrip(".")
    if entry.get("doi"):
        text += f". doi:{entry['doi']}"
    elif entry.get("url"):
        text += f". {entry['url']}"
    return text

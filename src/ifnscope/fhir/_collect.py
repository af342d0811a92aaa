"""Gather FHIR R4 resources from what an EHR exports: a Bundle of any type (transaction,
collection, searchset, document, ...), one resource, an NDJSON file (bulk data export) or a
folder of them; validate each with ``fhir.resources`` (R4B models) and index them for
reference resolution. A resource that fails validation is set aside with the reason, never
half-read; a file that is not FHIR at all is an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ifnscope.errors import FhirError

MAX_BYTES = 50 * 1024 * 1024  # a whole-patient export; larger is a bulk export to split
FHIR_SUFFIXES = (".json", ".ndjson")


@dataclass(frozen=True)
class Entry:
    """One resource as found: where it came from (file, entry index) and its full URL."""

    resource: dict[str, Any]
    where: str
    full_url: str | None = None

    @property
    def type(self) -> str:
        return str(self.resource.get("resourceType", ""))

    @property
    def ref(self) -> str:
        """``Type/id`` (or the entry's place when the resource has no id)."""
        rid = self.resource.get("id")
        return f"{self.type}/{rid}" if rid else f"{self.type} ({self.where})"


@dataclass
class Collected:
    entries: list[Entry] = field(default_factory=list)
    invalid: list[tuple[Entry, str]] = field(default_factory=list)  # failed validation: why

    def by_reference(self, reference: str, within: Entry | None = None) -> Entry | None:
        """Resolve a literal reference: ``#id`` (contained in ``within``), ``Type/id``, a full
        URL or ``urn:uuid:``."""
        if reference.startswith("#") and within is not None:
            for c in within.resource.get("contained") or []:
                if isinstance(c, dict) and c.get("id") == reference[1:]:
                    return Entry(c, f"{within.where} contained {reference}")
            return None
        absolute = "://" in reference or reference.startswith("urn:")
        for e in self.entries:
            if e.full_url and e.full_url == reference:
                return e
            rid = e.resource.get("id")
            if not rid:
                continue
            if reference == f"{e.type}/{rid}":
                return e
            # an absolute URL names one server's resource: only an entry without a full URL of
            # its own may be matched by its tail
            if absolute and not e.full_url and reference.endswith(f"/{e.type}/{rid}"):
                return e
        return None


def looks_like_fhir(path: Path) -> bool:
    """An ``.ndjson`` file, or a JSON file whose top level names a ``resourceType``."""
    if path.suffix.lower() == ".ndjson":
        return True
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        if path.stat().st_size > MAX_BYTES:
            return False
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False  # the case reader says what is wrong with it
    return isinstance(doc, dict) and "resourceType" in doc


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FhirError(
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            code="fhir.format",
            file=where,
        ) from None


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FhirError(
                f"the record is {size / 1e6:.0f} MB, over the {MAX_BYTES // 1_000_000} MB a single "
                "patient's record is read in (split a bulk export by patient)",
                code="fhir.too-large",
                file=str(path),
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FhirError("no such file", code="fhir.not-found", file=str(path)) from None
    except UnicodeDecodeError:
        raise FhirError("not UTF-8 text (FHIR JSON is UTF-8)", code="fhir.format", file=str(path)) from None


def documents(path: Path) -> Iterator[tuple[Any, str]]:
    """Each JSON document in a file or folder, with where it came from."""
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in FHIR_SUFFIXES and f.is_file())
        if not files:
            raise FhirError(
                "no FHIR files (.json, .ndjson) in this folder", code="fhir.not-found", file=str(path)
            )
        for f in files:
            yield from documents(f)
        return
    text = _read_text(path)
    if path.suffix.lower() == ".ndjson":
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield _load_json(line, f"{path}:{n}"), f"{path.name}:{n}"
        return
    yield _load_json(text, str(path)), path.name


def collect(docs: Iterator[tuple[Any, str]] | list[tuple[Any, str]]) -> Collected:
    """Every resource in the documents (Bundles unpacked, at any depth), validated."""
    out = Collected()
    for doc, where in docs:
        _add(out, doc, where, None)
    return out


def _add(out: Collected, doc: Any, where: str, full_url: str | None) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise FhirError(
            "not a FHIR resource: a JSON object with a resourceType was expected",
            code="fhir.format",
            file=where,
        )
    if doc["resourceType"] == "Bundle":
        if not doc.get("type"):
            raise FhirError(
                "a Bundle without its type (Bundle.type is required: transaction, collection, "
                "searchset, document ...)",
                code="fhir.invalid",
                file=where,
                loc=("Bundle", "type"),
            )
        entries = doc.get("entry") or []
        if not isinstance(entries, list):
            raise FhirError(
                "Bundle.entry is not a list", code="fhir.invalid", file=where, loc=("Bundle", "entry")
            )
        for i, e in enumerate(entries):
            if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                _add(out, e["resource"], f"{where} entry[{i}]", e.get("fullUrl"))
            elif not isinstance(e, dict) or "resource" in e:  # a DELETE or GET has no resource
                out.invalid.append(
                    (Entry({"resourceType": "Bundle.entry"}, f"{where} entry[{i}]"), "not an entry")
                )
        return
    entry = Entry(doc, where, full_url)
    problem = _invalid(doc)
    if problem:
        out.invalid.append((entry, problem))
    else:
        out.entries.append(entry)


def _invalid(resource: dict[str, Any]) -> str | None:
    """Why ``fhir.resources`` (R4B) refuses the resource, or None."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        model = get_fhir_model_class(resource["resourceType"])
    except (KeyError, ValueError):
        return f"unknown resource type {resource['resourceType']!r} (FHIR R4B)"
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"not valid FHIR R4: {where}: {err['msg']}"
    return None

"""The published JSON Schema of the case format, generated from the pydantic model."""

from __future__ import annotations

from typing import Any

from ifnscope.case.model import FORMAT, Case

SCHEMA_ID = "https://ifnscope.org/schema/ifnscope-case-1.json"

# Python names that differ from the published schema's definition names (kept stable for users).
_DEF_NAMES = {"CasePatient": "Patient"}


def _published_names(node: Any) -> Any:
    """The schema with every ``$defs`` key and ``$ref`` renamed by :data:`_DEF_NAMES`."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$defs":
                value = dict(sorted((_DEF_NAMES.get(k, k), v) for k, v in value.items()))
            elif key == "$ref" and isinstance(value, str):
                head, _, name = value.rpartition("/")
                value = f"{head}/{_DEF_NAMES.get(name, name)}"
            out[key] = _published_names(value)
        return out
    if isinstance(node, list):
        return [_published_names(v) for v in node]
    return node


def case_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for ``ifnscope-case/1``.

    Two conveniences of the reader are written into the schema by hand, because pydantic
    sees only the normalised types: a muscle biopsy may be the word ``not_done``, and an
    ANA titre (and the laboratory's cut-off) may be written ``"1:160"``.
    """
    schema: dict[str, Any] = _published_names(Case.model_json_schema(mode="validation"))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["description"] = (
        f"One patient at one assessment ({FORMAT}). A finding not written is unknown, never "
        "absent. See case-format.md."
    )
    defs = schema["$defs"]
    biopsy = defs["Muscle"]["properties"]["biopsy"]
    biopsy["anyOf"] = [
        {"const": "not_done"},
        *[b for b in biopsy.get("anyOf", []) if b.get("type") != "null"],
        {"type": "null"},
    ]
    mb = defs["MuscleBiopsy"]
    mb["properties"].pop("done", None)
    for key, lowest in (("ana_titer", 0), ("ana_titer_cutoff", 1)):
        defs["Labs"]["properties"][key]["anyOf"] = [
            {"type": "integer", "minimum": lowest},
            {"type": "string", "pattern": r"^\s*1\s*:\s*\d+\s*$"},
            {"type": "null"},
        ]
    return schema

"""FHIR R4 in and out: a patient's record as an ``ifnscope-case/1`` case (issue 13).

::

    from ifnscope import fhir
    imported = fhir.read_record("patient-bundle.json")   # FhirImport: .case (dict), .lines
    case = fhir.to_case(imported)                         # the validated Case

Public: :func:`read_record`, :func:`import_resources`, :func:`to_case`, :func:`looks_like_fhir`,
:func:`case_to_bundle` (a case as a FHIR Bundle), :func:`assessment_to_bundle` (with its
assessment), :class:`FhirImport`, :class:`ReportLine`.
The mapping's codes are data (``ifnscope/data/fhir/import.yaml``), each with its source;
``docs/fhir.md`` says what is read and what is not."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ifnscope.errors import require_extra
from ifnscope.fhir._collect import looks_like_fhir
from ifnscope.fhir._map import FhirImport, ReportLine

if TYPE_CHECKING:
    from ifnscope.case.model import Case

__all__ = [
    "FhirImport",
    "ReportLine",
    "assessment_to_bundle",
    "case_to_bundle",
    "import_resources",
    "looks_like_fhir",
    "read_record",
    "to_case",
]


def read_record(path: str | Path, *, patient: str | None = None) -> FhirImport:
    """Read a FHIR record (a Bundle of any type, one resource, NDJSON, or a folder of them)."""
    require_extra("fhir", "fhir.resources")
    from ifnscope.fhir._collect import collect, documents
    from ifnscope.fhir._map import map_record

    p = Path(path)
    return map_record(collect(documents(p)), patient=patient, source=f"FHIR record {p.name}")


def import_resources(*docs: Any, patient: str | None = None, source: str = "FHIR record") -> FhirImport:
    """The same, from parsed JSON: Bundles or resources (a CDS Hooks prefetch, an API body)."""
    require_extra("fhir", "fhir.resources")
    from ifnscope.fhir._collect import collect
    from ifnscope.fhir._map import map_record

    return map_record(
        collect([(d, f"document {i}") for i, d in enumerate(docs)]), patient=patient, source=source
    )


def case_to_bundle(case: Case) -> dict[str, Any]:
    """The case as a FHIR R4 collection Bundle: standard codes where verified, ifnscope's local
    code system (the case key path) for the rest; :func:`import_resources` reads it back."""
    from ifnscope.fhir._export import case_to_bundle as export

    return export(case)


def assessment_to_bundle(case: Case) -> dict[str, Any]:
    """The case and its assessment as FHIR: an Observation per criteria set (``derivedFrom``
    the case's evidence), a DiagnosticReport with the HTML report, a Device and a Provenance."""
    from ifnscope.fhir._export import assessment_to_bundle as export

    return export(case)


def to_case(imported: FhirImport) -> Case:
    """The imported case, validated like any case file (an inconsistent record is an error)."""
    from ifnscope.case.reader import validate_case

    return validate_case(imported.case, file=imported.case.get("source"))

"""A case as a FHIR R4 Bundle (the inverse of the import, for exchange and round trips).

Standard codes wherever ``data/fhir/import.yaml`` has a verified one: the patient's sex, muscle
enzymes (with their reference range), blood counts, complement, ANA titre and the antibodies as
LOINC Observations, forms of cutaneous lupus as SNOMED Conditions, medications as
MedicationStatements. Everything else a case holds (findings of the examination, lesions,
biopsies, activity items, history ...) has no verified standard code: each value is an
Observation coded in ifnscope's local code system, the code being the case key path
(``findings.heliotrope_rash``, ``lesions[0].site``). ``docs/fhir.md`` lists which is which."""

from __future__ import annotations

from typing import Any

from ifnscope.case.model import Case
from ifnscope.fhir._map import LOCAL_SYSTEM, import_codes

_STATUS = {"taking": "active", "stopped": "completed", "held": "on-hold", "planned": "intended"}
_UCUM_COUNT = {"10^9/L": "10*9/L", "G/L": "10*9/L", "10^3/uL": "10*3/uL", "/mm3": "/mm3", "/uL": "/uL"}
_V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def case_to_bundle(case: Case) -> dict[str, Any]:
    """The case as a FHIR R4 ``collection`` Bundle about one Patient."""
    doc = case.model_dump(mode="json", exclude_none=True, exclude_defaults=True, exclude={"expected"})
    c = import_codes()
    pid = case.id
    subject = {"reference": f"Patient/{pid}"}
    out: list[dict[str, Any]] = []
    n = 0

    def add(resource: dict[str, Any]) -> None:
        nonlocal n
        n += 1
        resource.setdefault("id", f"{resource['resourceType'].lower()}-{n}")
        if resource["resourceType"] != "Patient":
            resource["subject"] = subject
        out.append({"fullUrl": f"urn:ifnscope:{pid}:{resource['id']}", "resource": resource})

    def observation(code: dict[str, Any], **value: Any) -> dict[str, Any]:
        return {"resourceType": "Observation", "status": "final", "code": code, **value}

    def loinc(code: str) -> dict[str, Any]:
        return {"coding": [{"system": c.systems["loinc"], "code": code}]}

    patient: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    sex = doc.get("patient", {}).pop("sex", None)
    if sex:
        patient["gender"] = sex
    out.append({"fullUrl": f"Patient/{pid}", "resource": patient})

    labs = doc.get("labs", {})
    for key, coded in c.enzymes.items():
        for r in _results(labs.pop(key, None)):
            value: dict[str, Any] = {}
            if "value" in r:
                value["valueQuantity"] = {"value": r["value"], **({"unit": r["unit"]} if "unit" in r else {})}
            else:
                value["valueString"] = r["stated"]
            if "upper_limit" in r:
                value["referenceRange"] = [{"high": {"value": r["upper_limit"], **_unit_of(r)}}]
            if "stated" in r:
                value["interpretation"] = [
                    {"coding": [{"system": _V3, "code": "H" if r["stated"] == "elevated" else "N"}]}
                ]
            add(observation(loinc(coded.loinc[0]), **value, **_dated(r)))
    for key, coded in c.counts.items():
        for r in _results(labs.pop(key, None)):
            q = {
                "value": r["value"],
                "unit": r["unit"],
                "system": c.systems["ucum"],
                "code": _UCUM_COUNT[r["unit"]],
            }
            add(observation(loinc(coded.loinc[0]), valueQuantity=q, **_dated(r)))
    for key, coded in c.complement.items():
        for r in _results(labs.pop(key, None)):
            q = {"value": r["value"], **_unit_of(r)}
            low = {"value": r["lower_limit"], **_unit_of(r)}
            add(
                observation(
                    loinc(coded.loinc[0]), valueQuantity=q, referenceRange=[{"low": low}], **_dated(r)
                )
            )
    if "ana_titer" in labs:
        titre = labs.pop("ana_titer")
        value = (
            {"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": titre}}}
            if titre
            else {"valueString": "negative"}
        )
        add(observation(loinc(c.ana.titre.loinc[0]), **value))
    antibodies = labs.get("antibodies", {})
    for key in list(antibodies):
        codes = (
            c.ana.presence.loinc if key == "ana" else (c.antibodies[key].loinc if key in c.antibodies else [])
        )
        if codes:
            add(observation(loinc(codes[0]), valueString=antibodies.pop(key)))

    findings = doc.get("findings", {})
    for key, coded in c.condition_findings.items():
        word = findings.get(key)
        if not isinstance(word, str) or word == "unknown" or not coded.snomed:
            continue  # a finding with its context (resolved, attributed_to) stays local
        findings.pop(key)
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "code": {"coding": [{"system": c.systems["snomed"], "code": coded.snomed[0]}]},
        }
        status = {"absent": "refuted", "uncertain": "provisional", "present": "confirmed"}[word]
        condition["verificationStatus"] = {"coding": [{"system": _VER, "code": status}]}
        if word != "absent":
            condition["clinicalStatus"] = {"coding": [{"system": _CLIN, "code": "active"}]}
        add(condition)

    local_meds = []
    for m in doc.pop("medications", []):
        standard = (
            set(m) <= {"name", "status", "route", "started", "stopped"}
            and m.get("status") in _STATUS
            and m.get("route", "oral") in c.route_words.values()
        )
        if not standard:  # a status left out, a response, a dose ...: kept whole, locally
            local_meds.append(m)
            continue
        statement: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "status": _STATUS[m["status"]],
            "medicationCodeableConcept": {"text": m["name"]},
        }
        period = {k: v for k, v in (("start", m.get("started")), ("end", m.get("stopped"))) if v}
        if period:
            statement["effectivePeriod"] = period
        if "route" in m:
            statement["dosage"] = [{"route": {"text": m["route"]}}]
        add(statement)
    if local_meds:
        doc["medications"] = local_meds

    for path, leaf in _leaves(doc, ""):
        if path in ("format", "id") or path.startswith(("title", "source")):
            continue
        add(observation({"coding": [{"system": LOCAL_SYSTEM, "code": path}], "text": path}, **_value(leaf)))
    return {"resourceType": "Bundle", "type": "collection", "entry": out}


def _results(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _unit_of(r: dict[str, Any]) -> dict[str, Any]:
    return {"unit": r["unit"]} if "unit" in r else {}


def _dated(r: dict[str, Any]) -> dict[str, Any]:
    return {"effectiveDateTime": r["date"]} if "date" in r else {}


def _leaves(value: Any, path: str) -> list[tuple[str, Any]]:
    """Every scalar of a nested document with its key path (``lesions[0].site``)."""
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += _leaves(v, f"{path}.{k}" if path else k)
        return out
    if isinstance(value, list):
        if not value:
            return [(path, [])]
        out = []
        for i, v in enumerate(value):
            out += _leaves(v, f"{path}[{i}]")
        return out
    return [(path, value)]


def _value(leaf: Any) -> dict[str, Any]:
    if isinstance(leaf, bool):
        return {"valueBoolean": leaf}
    if isinstance(leaf, int | float):
        return {"valueQuantity": {"value": leaf}}
    if isinstance(leaf, list):  # an empty list, kept as written
        return {"valueString": "[]"}
    return {"valueString": str(leaf)}

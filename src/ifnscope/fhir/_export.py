"""A case as a FHIR R4 Bundle (the inverse of the import, for exchange and round trips).

Standard codes wherever ``data/fhir/import.yaml`` has a verified one: the patient's sex, muscle
enzymes (with their reference range), blood counts, complement, ANA titre and the antibodies as
LOINC Observations, forms of cutaneous lupus as SNOMED Conditions, medications as
MedicationStatements. Everything else a case holds (findings of the examination, lesions,
biopsies, activity items, history ...) has no verified standard code: each value is an
Observation coded in ifnscope's local code system, the code being the case key path
(``findings.heliotrope_rash``, ``lesions[0].site``). ``docs/fhir.md`` lists which is which."""

from __future__ import annotations

import uuid
from typing import Any

from ifnscope.case.model import Case
from ifnscope.fhir._map import LOCAL_SYSTEM, import_codes

_STATUS = {"taking": "active", "stopped": "completed", "held": "on-hold", "planned": "intended"}
_UCUM_COUNT = {"10^9/L": "10*9/L", "G/L": "10*9/L", "10^3/uL": "10*3/uL", "/mm3": "/mm3", "/uL": "/uL"}
_NAMESPACE = uuid.UUID("5f0c3b1e-8c44-4d0b-9a53-2f1d6a1c7e10")  # ifnscope's: stable ids per case
_V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def case_to_bundle(case: Case) -> dict[str, Any]:
    """The case as a FHIR R4 ``collection`` Bundle about one Patient."""
    return {"resourceType": "Bundle", "type": "collection", "entry": [e for _, e in case_entries(case)]}


def fhir_id(text: str) -> str:
    """A case id as a FHIR id ([A-Za-z0-9-.], at most 64 characters)."""
    import re

    clean = re.sub(r"[^A-Za-z0-9\-.]", "-", text).strip("-.") or "case"
    return clean[:64]


def full_url(case_id: str, resource_id: str) -> str:
    """A stable ``urn:uuid:`` for a resource of a case (Bundle.fullUrl must be absolute)."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{case_id}/{resource_id}')}"


def case_entries(
    case: Case, *, scope: str | None = None, subject_url: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The case's Bundle entries, each with the case key path it holds (``labs.ck``,
    ``findings.discoid_lupus``, ``lesions[0].site``; ``patient`` for the Patient): what an
    assessment's ``derivedFrom`` points at. ``scope`` keeps the ids of several cases apart (a
    registry patient's visits); with ``subject_url`` the resources are about that Patient and
    none is written for the case."""
    doc = case.model_dump(mode="json", exclude_none=True, exclude_defaults=True, exclude={"expected"})
    c = import_codes()
    pid = scope or case.id
    subject = {"reference": subject_url or full_url(pid, "patient")}
    out: list[tuple[str, dict[str, Any]]] = []
    n = 0
    path = ""

    def add(resource: dict[str, Any]) -> None:
        nonlocal n
        n += 1
        resource.setdefault("id", f"{resource['resourceType'].lower()}-{n}")
        resource["subject"] = subject
        out.append((path, {"fullUrl": full_url(pid, resource["id"]), "resource": resource}))

    def observation(code: dict[str, Any], **value: Any) -> dict[str, Any]:
        return {"resourceType": "Observation", "status": "final", "code": code, **value}

    def loinc(code: str) -> dict[str, Any]:
        return {"coding": [{"system": c.systems["loinc"], "code": code}]}

    patient: dict[str, Any] = {"resourceType": "Patient", "id": fhir_id(pid)}
    sex = doc.get("patient", {}).pop("sex", None)
    if sex:
        patient["gender"] = sex
    if subject_url is None:
        out.append(("patient", {"fullUrl": full_url(pid, "patient"), "resource": patient}))

    labs = doc.get("labs", {})
    for key, coded in c.enzymes.items():
        path = f"labs.{key}"
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
        path = f"labs.{key}"
        for r in _results(labs.pop(key, None)):
            q = {
                "value": r["value"],
                "unit": r["unit"],
                "system": c.systems["ucum"],
                "code": _UCUM_COUNT[r["unit"]],
            }
            add(observation(loinc(coded.loinc[0]), valueQuantity=q, **_dated(r)))
    for key, coded in c.complement.items():
        path = f"labs.{key}"
        for r in _results(labs.pop(key, None)):
            q = {"value": r["value"], **_unit_of(r)}
            low = {"value": r["lower_limit"], **_unit_of(r)}
            add(
                observation(
                    loinc(coded.loinc[0]), valueQuantity=q, referenceRange=[{"low": low}], **_dated(r)
                )
            )
    if "ana_titer" in labs:
        path = "labs.ana_titer"
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
            path = f"labs.antibodies.{key}"
            add(observation(loinc(codes[0]), valueString=antibodies.pop(key)))

    findings = doc.get("findings", {})
    for key, coded in c.condition_findings.items():
        word = findings.get(key)
        if not isinstance(word, str) or word == "unknown" or not coded.snomed:
            continue  # a finding with its context (resolved, attributed_to) stays local
        findings.pop(key)
        path = f"findings.{key}"
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
    path = "medications"
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
    return out


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


# ------------------------------------------------------------------------------ assessment

CRITERIA_SYSTEM = "urn:ifnscope:fhir:criteria"  # a criteria set (code: its key), coding.version: the rules
RESULT_SYSTEM = "urn:ifnscope:fhir:criteria-result"  # met / not-met, and the components' codes
REPORT_SYSTEM = "urn:ifnscope:fhir:report"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def _now(generated: Any) -> str:
    import datetime as dt

    when = generated or dt.datetime.now(dt.UTC)
    return str((when if when.tzinfo else when.replace(tzinfo=dt.UTC)).isoformat(timespec="seconds"))


def _device(scope: str, rules_version: str) -> dict[str, Any]:
    from ifnscope import __version__

    return {
        "fullUrl": full_url(scope, "device-ifnscope"),
        "resource": {
            "resourceType": "Device",
            "id": "device-ifnscope",
            "deviceName": [{"name": "ifnscope", "type": "user-friendly-name"}],
            "version": [{"value": f"{__version__} (rules {rules_version})"}],
        },
    }


def assessment_to_bundle(case: Case, *, generated: Any = None) -> dict[str, Any]:
    """The case and its assessment as one FHIR R4 ``collection`` Bundle: the case's resources
    (the evidence), an Observation per criteria set (the result as met / not met with the
    criteria's own words, score, probability, category and subgroup as components, the rules
    version in the code, ``derivedFrom`` the evidence it counted), a DiagnosticReport that
    bundles them with the one-line conclusion and the full HTML report, the software as a
    Device, and a Provenance naming it. Codes for criteria results are local: no LOINC or
    SNOMED code exists for these scores (docs/fhir.md)."""
    from ifnscope.assessment import assess
    from ifnscope.report.html import render_html

    a = assess(case)
    now = _now(generated)
    entries = case_entries(case)
    scope = case.id
    device = _device(scope, a.rules_version)
    out = [e for _, e in entries] + [device]
    made, targets = _assessment_resources(
        case,
        a.to_json_dict(),
        entries,
        scope=scope,
        patient_url=full_url(scope, "patient"),
        device_url=device["fullUrl"],
        now=now,
        html=render_html(a, case),
    )
    out += made
    out.append(_provenance(scope, targets, [e for _, e in entries], device["fullUrl"], now))
    return {"resourceType": "Bundle", "type": "collection", "timestamp": now, "entry": out}


def _provenance(
    scope: str, targets: list[dict[str, str]], sources: list[dict[str, Any]], device_url: str, now: str
) -> dict[str, Any]:
    return {
        "fullUrl": full_url(scope, "provenance-ifnscope"),
        "resource": {
            "resourceType": "Provenance",
            "id": "provenance-ifnscope",
            "target": targets,
            "recorded": now,
            "agent": [
                {
                    "type": {"coding": [{"system": _PARTICIPANT, "code": "assembler"}]},
                    "who": {"reference": device_url},
                }
            ],
            "entity": [{"role": "source", "what": {"reference": e["fullUrl"]}} for e in sources],
        },
    }


def _assessment_resources(
    case: Case,
    doc: dict[str, Any],
    entries: list[tuple[str, dict[str, Any]]],
    *,
    scope: str,
    patient_url: str,
    device_url: str,
    now: str,
    html: str | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The criteria Observations and the DiagnosticReport of one assessment (its JSON, live or
    stored), and the references a Provenance targets."""
    import base64

    from ifnscope.case.facts import build_facts
    from ifnscope.presentation.build import build

    view = build(doc)
    patient_ref = {"reference": patient_url}
    facts = build_facts(case)
    rules_version = str(doc.get("rules_version", ""))
    out: list[dict[str, Any]] = []

    def evidence(fact_names: list[str]) -> list[dict[str, str]]:
        """The case's Observations that hold the facts an item counted."""
        paths: set[str] = set()
        for name in fact_names:
            f = facts.get(name)
            if f is None:
                continue
            if f.record_at:
                paths |= {p.strip() for p in str(f.record_at).split(",")}
            paths |= {f"lesions[{n - 1}]" for n in f.lesions}
        refs = []
        for path, entry in entries:
            # R4 derivedFrom names Observations (among others), never a Condition or a
            # MedicationStatement: those are in the Provenance's entities
            if entry["resource"]["resourceType"] != "Observation":
                continue
            if any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in paths):
                refs.append({"reference": entry["fullUrl"]})
        return refs

    results: list[dict[str, str]] = []
    for key, c in zip(doc["criteria"], view.criteria, strict=True):
        raw = doc["criteria"][key]
        counted = [
            name for item in raw.get("items", []) if item.get("counted") for name in item.get("facts", [])
        ]
        if key == "sontheimer_cadm":  # a decision tree, no items: the facts its steps read, as recorded
            counted = [name for name in _cadm_facts() if name in facts and facts[name].value != "unknown"]
        components: list[dict[str, Any]] = [
            {"code": _local(RESULT_SYSTEM, "category"), "valueString": c.verdict.word},
        ]
        if isinstance(raw.get("score"), int | float):
            components.append(
                {"code": _local(RESULT_SYSTEM, "score"), "valueQuantity": {"value": raw["score"]}}
            )
        if isinstance(raw.get("probability"), int | float):
            pct = {"value": round(100 * raw["probability"], 1), "unit": "%", "system": _UCUM, "code": "%"}
            components.append({"code": _local(RESULT_SYSTEM, "probability"), "valueQuantity": pct})
        if raw.get("subgroup"):
            components.append(
                {"code": _local(RESULT_SYSTEM, "subgroup"), "valueString": str(raw["subgroup"])}
            )
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"criteria-{key.replace('_', '-')}",
            "status": "final",
            "category": [{"coding": [{"system": _CATEGORY, "code": "survey"}]}],
            "code": {
                "coding": [
                    {"system": CRITERIA_SYSTEM, "code": key, "display": c.title, "version": rules_version}
                ],
                "text": c.title,
            },
            "subject": patient_ref,
            "issued": now,
            "valueCodeableConcept": {
                "coding": [{"system": RESULT_SYSTEM, "code": "met" if c.met else "not-met"}],
                "text": c.verdict.sentence,
            },
            "component": components,
            "device": {"reference": device_url},
            "note": [{"text": doc["disclaimer"]}],
        }
        refs = evidence(counted)
        if refs:
            obs["derivedFrom"] = refs
        url = full_url(scope, f"criteria-{key}")
        out.append({"fullUrl": url, "resource": obs})
        results.append({"reference": url})

    met = [f"{c.verdict.word} ({c.short})" for c in view.criteria if c.met]
    conclusion = ("Criteria met: " + "; ".join(met)) if met else "No classification criteria set is met."
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": "report-ifnscope",
        "status": "final",
        "code": {"coding": [{"system": REPORT_SYSTEM, "code": "assessment"}], "text": "ifnscope assessment"},
        "subject": patient_ref,
        "issued": now,
        "result": results,
        "conclusion": f"{conclusion} {doc['disclaimer']}",
    }
    if html is not None:
        report["presentedForm"] = [
            {
                "contentType": "text/html",
                "data": base64.b64encode(html.encode("utf-8")).decode("ascii"),
                "title": "ifnscope report",
            }
        ]
    report_url = full_url(scope, "report-ifnscope")
    out.append({"fullUrl": report_url, "resource": report})
    return out, [*results, {"reference": report_url}]


IFN_SYSTEM = "urn:ifnscope:fhir:ifn-signature"  # a type I IFN signature (code: its catalogue name)
IFN_METHOD_SYSTEM = "urn:ifnscope:fhir:ifn-method"  # the scoring method (code: its name)


def ifn_score_entry(scope: str, score: dict[str, Any], patient_url: str, device_url: str) -> dict[str, Any]:
    """An interferon score as an Observation: the signature and the method as local codes (no
    LOINC code exists for them), the score, the call against the reference cut-off, the genes
    found of the signature's total, the tissue, the collection date. The sample's label (typed
    text) is not written."""
    comps: list[dict[str, Any]] = [
        {"code": _local(RESULT_SYSTEM, "genes-found"), "valueInteger": int(score["genes_found"])},
        {"code": _local(RESULT_SYSTEM, "genes-total"), "valueInteger": int(score["genes_total"])},
    ]
    if score.get("tissue"):
        comps.append({"code": _local(RESULT_SYSTEM, "tissue"), "valueString": str(score["tissue"])})
    if score.get("reference"):
        comps.append({"code": _local(RESULT_SYSTEM, "reference"), "valueString": str(score["reference"])})
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"ifn-{score['sample_id']}-{fhir_id(str(score['signature']))}-{fhir_id(str(score['method']))}"[
            :64
        ],
        "status": "final",
        "category": [{"coding": [{"system": _CATEGORY, "code": "laboratory"}]}],
        "code": {
            "coding": [{"system": IFN_SYSTEM, "code": str(score["signature"])}],
            "text": f"Type I interferon signature score ({score['signature']})",
        },
        "method": {
            "coding": [{"system": IFN_METHOD_SYSTEM, "code": str(score["method"])}],
            "text": str(score["method"]),
        },
        "subject": {"reference": patient_url},
        "device": {"reference": device_url},
        "component": comps,
    }
    if score.get("collected_on"):
        obs["effectiveDateTime"] = str(score["collected_on"])
    if isinstance(score.get("score"), int | float):
        obs["valueQuantity"] = {"value": score["score"]}
    else:
        obs["dataAbsentReason"] = {"text": "not scored"}
    if score.get("call") in ("high", "low"):
        code = "H" if score["call"] == "high" else "N"
        words = "above the reference cut-off" if code == "H" else "not above the reference cut-off"
        obs["interpretation"] = [{"coding": [{"system": _V3, "code": code}], "text": words}]
    return {"fullUrl": full_url(scope, obs["id"]), "resource": obs}


def record_to_bundle(record: dict[str, Any], *, generated: Any = None) -> dict[str, Any]:
    """A registry patient's record (``PatientRecord`` as JSON, identified: for clinicians) as
    one FHIR R4 Bundle: the Patient (name, MRN, birth date, sex), each visit's case resources
    and its stored assessment's criteria Observations and DiagnosticReport, every interferon
    score as an Observation, one Device and one Provenance."""
    from ifnscope.case.reader import validate_case

    now = _now(generated)
    p = record["patient"]
    scope = fhir_id(str(p["pseudonym"]))
    patient: dict[str, Any] = {"resourceType": "Patient", "id": scope}
    if p.get("name"):
        patient["name"] = [{"text": p["name"]}]
    if p.get("mrn"):
        patient["identifier"] = [
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]
                },
                "value": p["mrn"],
            }
        ]
    if record.get("birth_date"):
        patient["birthDate"] = record["birth_date"]
    if p.get("sex"):
        patient["gender"] = p["sex"]
    patient_url = full_url(scope, "patient")
    visits = [v for v in record.get("visits", []) if v.get("case") and v.get("assessment")]
    rules = str(visits[-1]["assessment"].get("rules_version", "")) if visits else ""
    device = _device(scope, rules)
    out: list[dict[str, Any]] = [{"fullUrl": patient_url, "resource": patient}, device]
    targets: list[dict[str, str]] = []
    sources: list[dict[str, Any]] = []
    for v in visits:
        case = validate_case(v["case"])
        vscope = f"{scope}/visit-{v['id']}"
        entries = case_entries(case, scope=vscope, subject_url=patient_url)
        when = f"{v['visit_date']}T00:00:00+00:00" if v.get("visit_date") else now
        made, made_targets = _assessment_resources(
            case,
            v["assessment"],
            entries,
            scope=vscope,
            patient_url=patient_url,
            device_url=device["fullUrl"],
            now=when,
            html=None,
        )
        out += [e for _, e in entries] + made
        targets += made_targets
        sources += [e for _, e in entries]
    for sc in record.get("scores", []):
        entry = ifn_score_entry(scope, sc, patient_url, device["fullUrl"])
        out.append(entry)
        targets.append({"reference": entry["fullUrl"]})
    if targets:
        out.append(_provenance(scope, targets, sources, device["fullUrl"], now))
    return {"resourceType": "Bundle", "type": "collection", "timestamp": now, "entry": out}


_UCUM = "http://unitsofmeasure.org"


def _cadm_facts() -> list[str]:
    """The facts the Sontheimer CADM rule table reads (its conditions and the duration)."""
    from ifnscope.criteria.cadm import rules

    r = rules()
    names: list[str] = [r.duration.fact]

    def walk(x: Any) -> None:
        if isinstance(x, str):
            names.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list | tuple):
            for v in x:
                walk(v)

    for cond in (r.hallmark_skin, r.clinical_weakness, r.muscle_enzymes, r.subclinical_myositis):
        walk(cond.model_dump()["when"])
        names += cond.required
    return list(dict.fromkeys(names))


def _local(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}], "text": code}

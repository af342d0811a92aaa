"""FHIR resources -> an ``ifnscope-case/1`` document, with an import report.

The mapping is data (``data/fhir/import.yaml``, each code with its source). What the record
does not say stays unknown: nothing is filled in from absence. Every resource read is in the
report, mapped (to which case field) or not (and why), so nothing is dropped silently."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel

from ifnscope.data import load_table
from ifnscope.errors import FhirError
from ifnscope.fhir._collect import Collected, Entry
from ifnscope.provenance import SourceRef

Status = Literal["mapped", "not_mapped", "skipped"]

# ifnscope's own code system: the code is a case key path (``findings.heliotrope_rash``), for
# what no verified standard code says (docs/fhir.md). A URN: no web address is claimed.
LOCAL_SYSTEM = "urn:ifnscope:fhir:case"


@dataclass(frozen=True)
class ReportLine:
    """One resource read: what became of it. ``field`` is the case key path it filled."""

    resource: str
    status: Status
    what: str
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"resource": self.resource, "status": self.status, "what": self.what}
        if self.field:
            d["field"] = self.field
        return d


@dataclass(frozen=True)
class PatientIdentity:
    """Who the record is about, for the registry (clinicians only): never part of the case."""

    name: str | None = None
    mrn: str | None = None
    birth_date: dt.date | None = None
    sex: str | None = None


@dataclass
class FhirImport:
    """The case a FHIR record gives, and the report of every resource read. ``identity`` (name,
    MRN, birth date) is for the registry's import; it is in neither the case nor ``to_dict``."""

    case: dict[str, Any]
    lines: list[ReportLine] = field(default_factory=list)
    not_read: dict[str, int] = field(default_factory=dict)  # resource types ifnscope never reads
    identity: PatientIdentity = field(default_factory=PatientIdentity, repr=False)

    def counts(self) -> dict[str, int]:
        c = Counter(line.status for line in self.lines)
        return {s: c.get(s, 0) for s in ("mapped", "not_mapped", "skipped")}

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "report": [line.to_dict() for line in self.lines],
            "not_read": self.not_read,
            "counts": self.counts(),
        }


# ------------------------------------------------------------------------------ the codes


class _Coded(BaseModel):
    loinc: list[str] = []
    snomed: list[str] = []
    icd10cm: list[str] = []
    label: str | None = None
    source: SourceRef | None = None


class _Ana(BaseModel):
    titre: _Coded
    presence: _Coded


class _Interpretation(BaseModel):
    above: list[str]
    not_above: list[str]
    positive: list[str]
    negative: list[str]
    equivocal: list[str]


class ImportCodes(BaseModel):
    systems: dict[str, str]
    enzymes: dict[str, _Coded]
    counts: dict[str, _Coded]
    count_units: dict[str, str]
    complement: dict[str, _Coded]
    ana: _Ana
    antibodies: dict[str, _Coded]
    antibodies_source: SourceRef
    interpretation: _Interpretation
    interpretation_source: SourceRef
    condition_findings: dict[str, _Coded]
    condition_findings_sources: list[SourceRef]
    condition_diagnoses: dict[str, _Coded]
    condition_diagnoses_sources: list[SourceRef]
    medication_status: dict[str, dict[str, str | None]]
    route_words: dict[str, str]
    family_relationships: dict[str, str]
    family_relationships_sources: list[SourceRef]
    family_conditions: dict[str, str]
    family_only_conditions: dict[str, _Coded]


@cache
def import_codes() -> ImportCodes:
    """``data/fhir/import.yaml``: FHIR codes -> case fields, each with its source."""
    return load_table("fhir/import.yaml", ImportCodes)


@cache
def _lab_index() -> dict[str, tuple[str, str]]:
    """LOINC code -> (kind, case key)."""
    c = import_codes()
    out: dict[str, tuple[str, str]] = {}
    groups: list[tuple[str, dict[str, _Coded]]] = [
        ("enzyme", c.enzymes),
        ("count", c.counts),
        ("complement", c.complement),
        ("antibody", c.antibodies),
    ]
    for kind, table in groups:
        for key, coded in table.items():
            for code in coded.loinc:
                out[code] = (kind, key)
    for code in c.ana.titre.loinc:
        out[code] = ("ana_titre", "ana")
    for code in c.ana.presence.loinc:
        out[code] = ("antibody", "ana")
    return out


@cache
def _condition_index() -> dict[tuple[str, str], tuple[str, str]]:
    """(system, code) -> ("finding" | "diagnosis", key)."""
    c = import_codes()
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, table in (("finding", c.condition_findings), ("diagnosis", c.condition_diagnoses)):
        for key, coded in table.items():
            for code in coded.snomed:
                out[(c.systems["snomed"], code)] = (kind, key)
            for code in coded.icd10cm:
                out[(c.systems["icd10cm"], code)] = (kind, key)
    return out


# ------------------------------------------------------------------------------ small readers


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def _concept_words(concept: Any) -> str:
    """A CodeableConcept in words: its text, else the first coding's display, else its code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for c in _codings(concept):
        if c.get("display"):
            return str(c["display"])
    names = {v: k for k, v in import_codes().systems.items()}
    for c in _codings(concept):
        if c.get("code"):
            system = str(c.get("system", ""))
            return f"{names.get(system, 'code')} {c['code']}" + ("" if system in names else f" ({system})")
    return ""


def _codes_of(concept: Any, system: str) -> list[str]:
    return [str(c["code"]) for c in _codings(concept) if c.get("system") == system and c.get("code")]


def _partial_date(value: Any) -> str | None:
    """YYYY, YYYY-MM or YYYY-MM-DD from a FHIR date or dateTime."""
    if not isinstance(value, str):
        return None
    m = re.match(r"^(\d{4}(?:-\d{2}(?:-\d{2})?)?)", value)
    return m.group(1) if m else None


def _when(resource: dict[str, Any]) -> str | None:
    # when the sample was taken (effective), before when it was reported (issued)
    for key in ("effectiveDateTime", "effectiveInstant", "onsetDateTime"):
        if d := _partial_date(resource.get(key)):
            return d
    for key in ("effectivePeriod", "onsetPeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and (d := _partial_date(period.get("start"))):
            return d
    for key in ("issued", "authoredOn", "recordedDate"):
        if d := _partial_date(resource.get(key)):
            return d
    return None


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


_POSITIVE = re.compile(r"\b(positive|detected|reactive|present)\b")
_NEGATIVE = re.compile(
    r"\b(negative|absent|undetected|non-?reactive)\b"
    r"|\b(no|none|not|non)\b[\s-]+(\w+\s+)?(detected|present|reactive|positive|found|seen)\b"
)
_EQUIVOCAL = re.compile(r"\b(equivocal|borderline|indeterminate|weak(?:ly)? positive)\b")


def _said(text: str) -> str | None:
    """positive / negative / equivocal, from a result in words."""
    t = text.lower()
    if _EQUIVOCAL.search(t):
        return "equivocal"
    if _NEGATIVE.search(t):  # "not detected" before "detected"
        return "negative"
    if _POSITIVE.search(t):
        return "positive"
    return None


def _interpretation(resource: dict[str, Any]) -> str | None:
    """The v3 ObservationInterpretation word: above / not_above / positive / negative / equivocal."""
    c = import_codes()
    system = c.systems["interpretation"]
    table = c.interpretation.model_dump()
    for concept in resource.get("interpretation") or []:
        for code in _codes_of(concept, system) + [
            str(x.get("code")) for x in _codings(concept) if x.get("system", "").endswith("/v2-0078")
        ]:
            for word, codes in table.items():
                if code in codes:
                    return str(word)
    return None


def _absolute(ref: str, full_url: str | None) -> str:
    """A relative reference (``Patient/23``) against its entry's base (the server its full URL
    names), so that ``Patient/23`` in an entry from another server is that server's patient."""
    if "://" in ref or ref.startswith(("urn:", "#")) or not full_url or "://" not in full_url:
        return ref
    m = re.match(r"^(.*)/[A-Za-z]+/[^/]+(?:/_history/[^/]+)?$", full_url)
    return f"{m.group(1)}/{ref}" if m else ref


def _interp_codes(resource: dict[str, Any]) -> set[str]:
    return {str(c.get("code")) for concept in resource.get("interpretation") or [] for c in _codings(concept)}


def _unit(q: dict[str, Any]) -> str | None:
    u = q.get("code") or q.get("unit")
    return str(u) if u else None


def _same_unit(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ua, ub = _unit(a), _unit(b)
    return ua is None or ub is None or ua == ub


# ------------------------------------------------------------------------------ the mapping


@dataclass
class _Builder:
    collected: Collected
    patient: Entry | None
    lines: list[ReportLine] = field(default_factory=list)
    labs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # series, in date order
    antibodies: dict[str, list[str]] = field(default_factory=dict)
    titres: list[tuple[int, str]] = field(default_factory=list)
    findings: dict[str, Any] = field(default_factory=dict)
    impression: list[str] = field(default_factory=list)
    cancers: list[dict[str, Any]] = field(default_factory=list)
    meds: dict[str, dict[str, Any]] = field(default_factory=dict)
    flags: dict[str, list[str]] = field(default_factory=dict)  # c3_low / c4_low from a flag alone
    local: dict[str, Any] = field(default_factory=dict)  # ifnscope-coded values, as a case document
    family_members: list[dict[str, str]] = field(default_factory=list)

    def line(self, e: Entry, status: Status, what: str, at: str | None = None) -> None:
        self.lines.append(ReportLine(e.ref, status, what, at))

    # -- whose record

    def about_patient(self, e: Entry) -> bool:
        """The resource's subject is the patient (or there is no Patient to check against)."""
        ref = None
        for key in ("subject", "patient"):
            v = e.resource.get(key)
            if isinstance(v, dict):
                ref = v.get("reference")
                break
        if ref is None:
            return True
        ref = _absolute(re.sub(r"/_history/[^/]+$", "", str(ref)), e.full_url)
        kind = ref.split("/")[-2] if "/" in ref else None
        if kind is not None and kind != "Patient":
            self.line(e, "skipped", f"about {ref}, not a patient")
            return False
        if self.patient is None:
            return True
        target = self.collected.by_reference(ref)
        if target is None:
            pid = self.patient.resource.get("id")
            mine = {f"Patient/{pid}", _absolute(f"Patient/{pid}", self.patient.full_url)}
            ok = ref in mine or (self.patient.full_url is not None and ref == self.patient.full_url)
        else:  # the same Patient, possibly another copy of it in the record
            ok = (target.full_url or target.ref) == (self.patient.full_url or self.patient.ref)
        if not ok:
            self.line(e, "skipped", f"about another patient ({ref})")
        return ok

    # -- Observation

    def observation(self, e: Entry) -> None:
        r = e.resource
        if _codes_of(r.get("code"), "urn:ifnscope:fhir:criteria"):
            self.line(e, "skipped", f"{_concept_words(r.get('code'))}: an ifnscope result, not a finding")
            return
        local = _codes_of(r.get("code"), LOCAL_SYSTEM)
        if local:
            self._obs_local(e, local[0])
            return
        codes = _codes_of(r.get("code"), import_codes().systems["loinc"])
        words = _concept_words(r.get("code"))
        status = r.get("status")
        if status in ("cancelled", "entered-in-error", "registered"):
            self.line(e, "skipped", f"{words}: status {status}, no result")
            return
        target = next((_lab_index()[c] for c in codes if c in _lab_index()), None)
        if target is None:
            if r.get("hasMember") and not any(k.startswith("value") for k in r):
                self.line(e, "skipped", f"{words}: a panel (its results are read one by one)")
            else:
                self.line(e, "not_mapped", f"{words}: no criterion reads it")
            return
        if not any(k.startswith("value") for k in r):
            why = _concept_words(r.get("dataAbsentReason")) or "no value"
            self.line(e, "skipped", f"{words}: no result ({why}): stays unknown")
            return
        kind, key = target
        getattr(self, f"_obs_{kind}")(e, key, words)

    def _obs_local(self, e: Entry, path: str) -> None:
        r = e.resource
        if "valueBoolean" in r:
            value: Any = r["valueBoolean"]
        elif (
            isinstance(r.get("valueQuantity"), dict) and _number(r["valueQuantity"].get("value")) is not None
        ):
            value = r["valueQuantity"]["value"]
        elif isinstance(r.get("valueString"), str):
            value = [] if r["valueString"] == "[]" else r["valueString"]
        else:
            self.line(e, "not_mapped", f"{path}: no value")
            return
        if path.split(".")[0].split("[")[0] in ("format", "id", "expected"):
            self.line(e, "not_mapped", f"{path}: not a clinical field")
            return
        try:
            _set_path(self.local, path, value)
        except ValueError as exc:
            self.line(e, "not_mapped", f"{path}: {exc}")
            return
        self.line(e, "mapped", f"{path}: {value} (ifnscope code)", path)

    def _obs_enzyme(self, e: Entry, key: str, words: str) -> None:
        r = e.resource
        q = r.get("valueQuantity")
        said = _interpretation(r)
        if (not isinstance(q, dict) or _number(q.get("value")) is None) and said in ("above", "not_above"):
            word: dict[str, Any] = {"stated": "elevated" if said == "above" else "normal"}
            high = next(
                (rr.get("high") for rr in r.get("referenceRange") or [] if isinstance(rr, dict)), None
            )
            if isinstance(high, dict) and _number(high.get("value")):
                word["upper_limit"] = _number(high["value"])
            if d := _when(r):
                word["date"] = d
            self.labs.setdefault(key, []).append(word)
            self.line(e, "mapped", f"{words}: reported {word['stated']} without a number", f"labs.{key}")
            return
        if not isinstance(q, dict) or _number(q.get("value")) is None:
            self.line(e, "not_mapped", f"{words}: not a number")
            return
        res: dict[str, Any] = {"value": _number(q["value"])}
        if _unit(q):
            res["unit"] = _unit(q)
        high = next(
            (rr.get("high") for rr in r.get("referenceRange") or [] if isinstance(rr.get("high"), dict)), None
        )
        if high is not None and _number(high.get("value")) and _same_unit(q, high):
            res["upper_limit"] = _number(high["value"])
        else:
            said = _interpretation(r)
            if said in ("above", "not_above"):
                res["stated"] = "elevated" if said == "above" else "normal"
        if d := _when(r):
            res["date"] = d
        self.labs.setdefault(key, []).append(res)
        limit = f", upper limit {res['upper_limit']:g}" if "upper_limit" in res else ""
        stated = f", flagged {res['stated']}" if "stated" in res else ""
        bare = "" if limit or stated else " (no upper limit: the criteria cannot read it)"
        self.line(
            e,
            "mapped",
            f"{words}: {res['value']:g} {res.get('unit', '')}{limit}{stated}{bare}",
            f"labs.{key}",
        )

    def _obs_count(self, e: Entry, key: str, words: str) -> None:
        q = e.resource.get("valueQuantity")
        if not isinstance(q, dict) or _number(q.get("value")) is None:
            self.line(e, "not_mapped", f"{words}: not a number")
            return
        unit = import_codes().count_units.get(_unit(q) or "")
        if unit is None:
            self.line(e, "not_mapped", f"{words}: unit {_unit(q)!r} not understood for a count")
            return
        res: dict[str, Any] = {"value": _number(q["value"]), "unit": unit}
        if d := _when(e.resource):
            res["date"] = d
        self.labs.setdefault(key, []).append(res)
        self.line(e, "mapped", f"{words}: {res['value']:g} {unit}", f"labs.{key}")

    def _obs_complement(self, e: Entry, key: str, words: str) -> None:
        r = e.resource
        q = r.get("valueQuantity")
        low = next(
            (rr.get("low") for rr in r.get("referenceRange") or [] if isinstance(rr.get("low"), dict)), None
        )
        value = _number(q.get("value")) if isinstance(q, dict) else None
        limit = _number(low.get("value")) if low is not None else None
        if value is None or not limit or not _same_unit(q, low):  # type: ignore[arg-type]
            said = _interpretation(r)
            if said in ("above", "not_above"):
                low_now = bool({"L", "LL"} & _interp_codes(r))
                self.flags.setdefault(f"{key}_low", []).append("present" if low_now else "absent")
                self.line(
                    e, "mapped", f"{words}: flagged {'low' if low_now else 'not low'}", f"labs.{key}_low"
                )
            else:
                self.line(e, "not_mapped", f"{words}: no value with its lower limit in the same unit")
            return
        assert isinstance(q, dict)
        res: dict[str, Any] = {"value": value, "lower_limit": limit}
        if _unit(q):
            res["unit"] = _unit(q)
        if d := _when(r):
            res["date"] = d
        self.labs.setdefault(key, []).append(res)
        self.line(e, "mapped", f"{words}: {value:g}, lower limit {limit:g}", f"labs.{key}")

    def _obs_ana_titre(self, e: Entry, key: str, words: str) -> None:
        from ifnscope.case.model import _check_titre

        r = e.resource
        titre: float | None = None
        below = any(
            isinstance(q, dict) and q.get("comparator") in ("<", "<=")
            for q in (
                r.get("valueQuantity"),
                (r.get("valueRatio") or {}).get("numerator"),
                (r.get("valueRatio") or {}).get("denominator"),
            )
        )
        below = below or (
            isinstance(r.get("valueString"), str) and bool(re.match(r"^\s*<", r["valueString"]))
        )
        if below:
            titre = 0  # "<1:40": not detected at the screening dilution
        elif isinstance(ratio := r.get("valueRatio"), dict):
            num = _number((ratio.get("numerator") or {}).get("value"))
            den = _number((ratio.get("denominator") or {}).get("value"))
            if num and den:
                titre = den / num
        elif isinstance(text := r.get("valueString"), str):
            m = re.match(r"^\s*1\s*:\s*(\d+)\s*$", text)
            if m:
                titre = float(m.group(1))
            elif _said(text) == "negative":
                titre = 0
        elif isinstance(q := r.get("valueQuantity"), dict):
            titre = _number(q.get("value"))
        try:
            if titre is None or titre != int(titre):
                raise ValueError
            value = _check_titre(int(titre))
        except Exception:
            self.line(e, "not_mapped", f"{words}: not a dilution titre such as 1:160")
            return
        self.titres.append((value, _when(r) or ""))
        shown = f"1:{value}" if value else ("below the first dilution: negative" if below else "negative")
        self.line(e, "mapped", f"{words}: {shown}", "labs.ana_titer")

    def _obs_antibody(self, e: Entry, key: str, words: str) -> None:
        r = e.resource
        said: str | None = None
        q = r.get("valueQuantity")
        if isinstance(q, dict) and _number(q.get("value")) is not None:
            high = next(
                (rr.get("high") for rr in r.get("referenceRange") or [] if isinstance(rr.get("high"), dict)),
                None,
            )
            if high is not None and _number(high.get("value")) is not None and _same_unit(q, high):
                said = "positive" if _number(q["value"]) > _number(high["value"]) else "negative"  # type: ignore[operator]
        if said is None and isinstance(r.get("valueCodeableConcept"), dict):
            said = _said(_concept_words(r["valueCodeableConcept"]))
        if said is None and isinstance(r.get("valueString"), str):
            said = _said(r["valueString"])
        if said is None and isinstance(r.get("valueBoolean"), bool):
            said = "positive" if r["valueBoolean"] else "negative"
        if said is None:
            interp = _interpretation(r)
            said = {
                "positive": "positive",
                "above": "positive",
                "negative": "negative",
                "equivocal": "equivocal",
            }.get(interp or "")
        if said is None:
            self.line(e, "not_mapped", f"{words}: the result does not say positive or negative")
            return
        self.antibodies.setdefault(key, []).append(said)
        self.line(e, "mapped", f"{words}: {said}", f"labs.antibodies.{key}")

    # -- Condition

    def condition(self, e: Entry) -> None:
        r = e.resource
        words = _concept_words(r.get("code")) or "(no code)"
        verification = " ".join(_codes_of(r.get("verificationStatus"), _VER))
        refuted = _finding_of(r) if verification == "refuted" else None
        if refuted is not None:  # ruled out: the finding is absent (unless present elsewhere)
            if self.findings.get(refuted) in (None, "uncertain"):
                self.findings[refuted] = "absent"
            self.line(e, "mapped", f"{words}: refuted (ruled out): recorded absent", f"findings.{refuted}")
            return
        if verification in ("refuted", "entered-in-error"):
            self.line(e, "skipped", f"{words}: {verification}")
            return
        clinical = " ".join(_codes_of(r.get("clinicalStatus"), _CLIN))
        unsure = verification in ("unconfirmed", "provisional", "differential")
        index = _condition_index()
        target = None
        for c in _codings(r.get("code")):
            target = index.get((str(c.get("system")), str(c.get("code"))))
            if target:
                break
        onset = _partial_date(r.get("onsetDateTime")) or _partial_date(
            (r.get("onsetPeriod") or {}).get("start")
        )
        if target is None:
            icd = _codes_of(r.get("code"), import_codes().systems["icd10cm"])
            if any(re.match(r"^C(?:[0-8]\d|9[0-6]|4A|7A|7B)", code) for code in icd) and not unsure:
                entry: dict[str, Any] = {"type": words[:200]}
                if onset:
                    entry["diagnosed"] = onset
                if clinical:
                    entry["active"] = clinical in ("active", "recurrence", "relapse")
                self.cancers.append(entry)
                self.line(e, "mapped", f"{words}: a cancer (ICD-10-CM chapter C00-C96)", "cancer_history")
                return
            if words.lower().startswith("family history"):
                self.line(e, "not_mapped", f"{words}: a relative's history, never the patient's own")
            elif not _codings(r.get("code")):
                self.line(e, "not_mapped", f"{words}: coded only as text (a code is needed to map it)")
            else:
                self.line(e, "not_mapped", f"{words}: no criterion reads this diagnosis")
            return
        kind, key = target
        resolved = clinical in ("resolved", "inactive", "remission")
        if kind == "finding":
            value: Any = "uncertain" if unsure else "present"
            if resolved and not unsure:
                value = {"value": "present", "resolved": True}
            if self.findings.get(key) not in (None, "uncertain", "absent") and value == "uncertain":
                value = self.findings[key]  # confirmed on one entry, provisional on another
            self.findings[key] = value
            how = "uncertain" if unsure else "present" + (", resolved" if resolved else "")
            self.line(e, "mapped", f"{words}: recorded {how}", f"findings.{key}")
            return
        label = import_codes().condition_diagnoses[key].label or key
        bits = ["problem list"] + (["unconfirmed"] if unsure else []) + ([f"since {onset}"] if onset else [])
        bits += [clinical] if clinical and clinical != "active" else []
        self.impression.append(f"{label} ({', '.join(bits)})")
        self.line(
            e,
            "mapped",
            f"{words}: a recorded diagnosis, kept as the clinician's impression (the criteria "
            "classify from findings, never from a recorded diagnosis)",
            "impression.differential",
        )

    # -- FamilyMemberHistory

    def family(self, e: Entry) -> None:
        """A relative's conditions: family_history entries, never the patient's own."""
        from ifnscope.case.vocabulary import vocabulary

        r = e.resource
        if r.get("status") in ("entered-in-error", "health-unknown"):
            self.line(e, "skipped", f"family history: status {r.get('status')}")
            return
        c = import_codes()
        rel = r.get("relationship")
        codes = _codes_of(rel, "http://terminology.hl7.org/CodeSystem/v3-RoleCode")
        relative = next((c.family_relationships[x] for x in codes if x in c.family_relationships), None)
        words = _concept_words(rel).strip().lower().replace("-", "_").replace(" ", "_")
        known = vocabulary().family_relatives
        if relative is None:  # a RoleCode not listed: its degree is not certain, whatever its words
            relative = words if words in known and not codes else "other_relative"
        if not [x for x in r.get("condition") or [] if isinstance(x, dict)]:
            self.line(e, "skipped", f"{relative.replace('_', ' ')}: no condition recorded")
            return
        for cond in r.get("condition") or []:
            if not isinstance(cond, dict):
                continue
            what = _concept_words(cond.get("code")) or "(no code)"
            key = _family_condition(cond.get("code"))
            if key is None:
                self.line(
                    e,
                    "not_mapped",
                    f"{relative.replace('_', ' ')}: {what}: no family condition is read for it",
                )
                continue
            self.family_members.append({"relative": relative, "condition": key})
            self.line(e, "mapped", f"{relative.replace('_', ' ')}: {what}", "family_history")

    # -- medications

    def medication(self, e: Entry) -> None:
        r = e.resource
        name, concept = self._medication_name(e)
        if not name:
            self.line(e, "not_mapped", "a medication without a name or code")
            return
        if r.get("doNotPerform") is True:
            self.line(e, "skipped", f"{name}: an order NOT to give it (doNotPerform)")
            return
        status_map = import_codes().medication_status.get(e.type, {})
        status = status_map.get(str(r.get("status")), None)
        if status is None:
            self.line(e, "skipped", f"{name}: status {r.get('status')}")
            return
        if e.type == "MedicationRequest" and r.get("intent") in ("proposal", "plan") and status == "taking":
            status = "planned"  # proposed or planned, not yet ordered
        route = self._route(r, concept, name)
        started = _partial_date(r.get("authoredOn")) or _partial_date(
            (r.get("effectivePeriod") or {}).get("start")
        )
        started = started or _partial_date(r.get("effectiveDateTime"))
        stopped = _partial_date((r.get("effectivePeriod") or {}).get("end"))
        key = f"{name.lower()}|{route or ''}"
        prior = self.meds.get(key)
        entry: dict[str, Any] = {"name": name, "status": status}
        if route:
            entry["route"] = route
        if started and status not in ("planned",):
            entry["started"] = started
        if stopped and status == "stopped" and (not started or stopped >= started):
            entry["stopped"] = stopped
        if prior is not None:  # one drug ordered again and again: its first start, its latest state
            first = min(filter(None, [prior.get("started"), entry.get("started")]), default=None)
            later = entry.get("started") is None or (entry.get("started") or "") >= (
                prior.get("started") or ""
            )
            latest = entry if later else prior
            entry = {**latest}
            if first and entry["status"] != "planned":
                entry["started"] = first
            if entry.get("stopped") and first and entry["stopped"] < first:
                entry.pop("stopped")
        self.meds[key] = entry
        self.line(e, "mapped", f"{name}: {status}" + (f", {route}" if route else ""), "medications")

    def _medication_name(self, e: Entry) -> tuple[str, Any]:
        r = e.resource
        concept = r.get("medicationCodeableConcept")
        if concept is None and isinstance(ref := r.get("medicationReference"), dict):
            target = self.collected.by_reference(str(ref.get("reference", "")), within=e)
            if target is not None:
                concept = target.resource.get("code")
            elif ref.get("display"):
                return str(ref["display"]), None
        return _concept_words(concept), concept

    def _route(self, r: dict[str, Any], concept: Any, name: str) -> str | None:
        words = import_codes().route_words
        texts = []  # the dosage's route says more than words in the drug's name
        for d in r.get("dosageInstruction") or r.get("dosage") or []:
            if isinstance(d, dict):
                texts.append(_concept_words(d.get("route")))
        texts.append(name)
        for text in texts:
            for word, route in words.items():
                if re.search(rf"\b{word}\b", text, flags=re.I):
                    return route
        return None

    # -- the case

    def case(self, case_id: str, source: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": "ifnscope-case/1", "id": case_id, "source": source}
        if self.patient is not None:
            patient = _patient_section(self.patient, self)
            if patient:
                doc["patient"] = patient
        if self.findings:
            doc["findings"] = self.findings
        labs: dict[str, Any] = {}
        for key, series in self.labs.items():
            series = sorted(series, key=lambda x: str(x.get("date", "")))
            labs[key] = series[0] if len(series) == 1 else series
        for key, said in self.flags.items():
            lab = key.removesuffix("_low")
            if "present" in said:  # low on some occasion: beside values, as a series (any occasion counts)
                labs[key] = "present"
                if lab in labs and not isinstance(labs[lab], list):
                    labs[lab] = [labs[lab]]
            elif lab not in labs:  # not low: a value with its limit says more
                labs[key] = "absent"
        if self.titres:  # the 2019 entry criterion reads an ANA "ever": the highest titre
            labs["ana_titer"] = max(t for t, _ in self.titres)
        antibodies: dict[str, str] = {}
        for key, said in self.antibodies.items():  # any positive result counts (any occasion)
            antibodies[key] = next(w for w in ("positive", "equivocal", "negative") if w in said)
        _ana_agree(labs, antibodies)
        if antibodies:
            labs["antibodies"] = antibodies
        if labs:
            doc["labs"] = labs
        if self.meds:
            doc["medications"] = list(self.meds.values())
        if self.cancers:
            doc["cancer_history"] = self.cancers
        if self.family_members:
            doc["family_history"] = [
                dict(t) for t in dict.fromkeys(tuple(m.items()) for m in self.family_members)
            ]
        if self.impression:
            doc["impression"] = {"differential": list(dict.fromkeys(self.impression))}
        return _merge(doc, self.local)


def _family_condition(concept: Any) -> str | None:
    """The case's family condition for a relative's coded condition, or None."""
    c = import_codes()
    index = _condition_index()
    for coding in _codings(concept):
        system, code = str(coding.get("system")), str(coding.get("code"))
        hit = index.get((system, code))
        if hit and hit[1] in c.family_conditions:
            return c.family_conditions[hit[1]]
        if system == c.systems["icd10cm"] and re.match(r"^C(?:[0-8]\d|9[0-6]|4A|7A|7B)", code):
            return "cancer"
        for key, coded in c.family_only_conditions.items():
            if system == c.systems["snomed"] and code in coded.snomed:
                return key
    return None


def _finding_of(condition: dict[str, Any]) -> str | None:
    index = _condition_index()
    for c in _codings(condition.get("code")):
        hit = index.get((str(c.get("system")), str(c.get("code"))))
        if hit and hit[0] == "finding":
            return hit[1]
    return None


_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d{1,4}\])*)")


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at a case key path (``lesions[0].site``) in a nested document."""
    steps: list[str | int] = []
    for part in path.split("."):
        m = _PART.fullmatch(part)
        if m is None:
            raise ValueError("not a case key path")
        steps.append(m.group(1))
        steps += [int(i) for i in re.findall(r"\d+", m.group(2))]
    here: Any = doc
    for step, nxt in pairwise(steps):
        empty: Any = [] if isinstance(nxt, int) else {}
        if isinstance(step, int):
            if not isinstance(here, list):
                raise ValueError("a list index where a list is not")
            while len(here) <= step:
                here.append(None)
            if here[step] is None:
                here[step] = empty
            here = here[step]
        else:
            if not isinstance(here, dict):
                raise ValueError("a key where a map is not")
            here = here.setdefault(step, empty)
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(here, list):
            raise ValueError("a list index where a list is not")
        while len(here) <= last:
            here.append(None)
        here[last] = value
    elif isinstance(here, dict):
        here[last] = value
    else:
        raise ValueError("a key where a map is not")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` into ``base``: maps merged key by key, lists appended (standard entries first)."""
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        elif isinstance(v, list) and isinstance(base.get(k), list):
            base[k] = base[k] + v
        else:
            base[k] = v
    return base


def _ana_agree(labs: dict[str, Any], antibodies: dict[str, str]) -> None:
    """The highest titre and the ANA call, read on different occasions, must not contradict
    each other (the case reader refuses that): a titre above any laboratory's range makes a
    negative call positive; a positive call beside only negative titres drops the titre of 0."""
    from ifnscope.case.facts import ana_titre_above_any_reference_range

    titre, call = labs.get("ana_titer"), antibodies.get("ana")
    if call == "negative" and titre and titre >= ana_titre_above_any_reference_range():
        antibodies["ana"] = "positive"  # positive by its titre on another occasion
    elif titre == 0 and call in ("positive", "equivocal"):
        del labs["ana_titer"]


_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_ANIMAL = "http://hl7.org/fhir/StructureDefinition/patient-animal"


def _patient_section(e: Entry, b: _Builder) -> dict[str, Any]:
    r = e.resource
    out: dict[str, Any] = {}
    if r.get("gender") in ("female", "male", "other", "unknown"):
        out["sex"] = r["gender"]
    born = r.get("birthDate")
    died = _partial_date(r.get("deceasedDateTime"))
    dead_undated = r.get("deceasedBoolean") is True or (died is not None and len(died) < 10)
    if isinstance(born, str) and dead_undated:
        b.line(e, "not_mapped", f"born {born}, deceased without a full date of death: age left unknown")
    elif isinstance(born, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", born):
        at = dt.date.fromisoformat(died) if died else dt.date.today()
        b0 = dt.date.fromisoformat(born)
        age = at.year - b0.year - ((at.month, at.day) < (b0.month, b0.day))
        when = f"at death ({died})" if died else "today"
        if 0 <= age <= 120:
            out["age_years"] = age
            b.line(e, "mapped", f"born {born}: age {age} {when}", "patient.age_years")
        else:
            b.line(e, "not_mapped", f"born {born}: age {age} {when} is not plausible: left unknown")
    elif born:
        b.line(e, "not_mapped", f"birth date {born} is not a full date: age left unknown")
    if "sex" in out:
        b.line(e, "mapped", f"gender {out['sex']}", "patient.sex")
    return out


_READERS: dict[str, Callable[[_Builder, Entry], None]] = {
    "Observation": _Builder.observation,
    "Condition": _Builder.condition,
    "MedicationRequest": _Builder.medication,
    "MedicationStatement": _Builder.medication,
    "FamilyMemberHistory": _Builder.family,
}
_NOTED = ("Procedure", "DiagnosticReport", "AllergyIntolerance")


def choose_patient(collected: Collected, patient: str | None) -> Entry | None:
    """The one Patient the record is about (``patient``: its id, when there are several)."""
    patients = list({(e.full_url or e.ref): e for e in collected.entries if e.type == "Patient"}.values())
    if patient is not None:
        chosen = [e for e in patients if e.resource.get("id") == patient]
        if not chosen:
            ids = ", ".join(str(e.resource.get("id")) for e in patients) or "none"
            raise FhirError(f"no Patient with id {patient!r} in the record (ids: {ids})", code="fhir.patient")
        patients = chosen
    if len(patients) > 1:
        ids = ", ".join(str(e.resource.get("id") or f"no id: {e.full_url or e.where}") for e in patients)
        raise FhirError(
            f"the record holds {len(patients)} patients ({ids}): choose one with --patient ID",
            code="fhir.patient",
        )
    if not patients:
        subjects = {
            re.sub(r"/_history/[^/]+$", "", str(ref))
            for e in collected.entries
            for key in ("subject", "patient")
            if isinstance(v := e.resource.get(key), dict)
            and isinstance(ref := v.get("reference"), str)
            and re.search(r"(^|/)Patient/[^/]+", ref)
        }
        if len(subjects) > 1:
            raise FhirError(
                f"the record has no Patient and its resources are about {len(subjects)} patients "
                f"({', '.join(sorted(subjects)[:5])}): give one patient's record",
                code="fhir.patient",
            )
        return None
    p = patients[0]
    if any(isinstance(x, dict) and x.get("url") == _ANIMAL for x in p.resource.get("extension") or []):
        raise FhirError(
            f"{p.ref} is an animal (patient-animal extension): the criteria are for people",
            code="fhir.patient",
        )
    return p


def _case_id(patient: Entry | None, fallback: str) -> str:
    raw = str(patient.resource.get("id")) if patient is not None and patient.resource.get("id") else fallback
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-.") or "record"
    return f"fhir-{clean}"[:120]


def map_record(
    collected: Collected, *, patient: str | None = None, source: str = "FHIR record"
) -> FhirImport:
    """The case document and the import report for one patient's FHIR resources."""
    who = choose_patient(collected, patient)
    b = _Builder(collected, who)
    not_read: Counter[str] = Counter()
    for e, why in collected.invalid:
        b.line(e, "skipped", why)
    for e in collected.entries:
        reader = _READERS.get(e.type)
        if e.type == "Patient":
            continue
        if reader is None:
            if e.type in _NOTED and b.about_patient(e):
                what = _concept_words(e.resource.get("code")) or e.type
                b.line(e, "not_mapped", f"{what}: {e.type} is not read yet (docs/fhir.md)")
            elif e.type not in _NOTED:
                not_read[e.type] += 1
            continue
        if b.about_patient(e):
            reader(b, e)
    doc = b.case(_case_id(who, "record"), source)
    return FhirImport(doc, b.lines, dict(sorted(not_read.items())), _identity(who))


_MR = ("http://terminology.hl7.org/CodeSystem/v2-0203", "MR")  # identifier type: medical record number


def _identity(patient: Entry | None) -> PatientIdentity:
    if patient is None:
        return PatientIdentity()
    r = patient.resource
    names = [n for n in r.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") in ("official", "usual")), names[0] if names else None)
    words = None
    if name is not None:
        words = name.get("text") or " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()
    mrn = None
    for ident in r.get("identifier") or []:
        if not isinstance(ident, dict):
            continue
        codes = {(c.get("system"), c.get("code")) for c in _codings(ident.get("type"))}
        if _MR in codes and ident.get("value"):
            mrn = str(ident["value"])
            break
    born = r.get("birthDate")
    birth = (
        dt.date.fromisoformat(born)
        if isinstance(born, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", born)
        else None
    )
    sex = r.get("gender") if r.get("gender") in ("female", "male", "other", "unknown") else None
    return PatientIdentity(name=words or None, mrn=mrn, birth_date=birth, sex=sex)

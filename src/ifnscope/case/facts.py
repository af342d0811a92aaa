"""Facts: the flat, tri-state view of a case that every criteria engine reads.

A case has nested sections (findings, lesions, labs with upper limits, biopsy maps); the
engines should not care. ``build_facts`` turns a case into named facts, each
``present``/``absent``/``unknown`` with where it came from (recorded, derived from a lesion,
computed from a lab value). Engines read facts by name; the shared "what could the unknowns
change" logic (``criteria.whatif``) sets an unknown fact to present and re-runs the engine.

Fact names: every finding of the vocabulary; ``antibody_<name>``; ``<lab>_above_uln`` for
ck, ldh, ast, alt, aldolase; ``ana_at_least_1_80``, ``ana_positive``,
``ana_above_reference_range``; ``c3_low``, ``c4_low``, ``ch50_low``;
``lupus_nephritis_class_ii_or_v``, ``lupus_nephritis_class_iii_or_iv``,
``lupus_nephritis_biopsy``; ``muscle_biopsy_<feature>``, ``muscle_biopsy_abnormal``;
``mri_abnormal``, ``emg_abnormal``; ``onset_age_under_18``, ``onset_age_18_to_40``,
``onset_age_40_or_more``; ``skin_disease_6_months_or_more``; ``skin_biopsy_<feature>``; ``history_<name>``;
``family_history_cancer`` (a relative's, never the patient's own cancer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from ifnscope.case.derive import DerivationResult, derive_findings, describe_lesion
from ifnscope.case.model import Case, FamilyMember, LabValue, results
from ifnscope.case.vocabulary import vocabulary
from ifnscope.data import load_table, load_yaml
from ifnscope.provenance import SourceRef

TriValue = Literal["present", "absent", "unknown"]
Origin = Literal["recorded", "derived", "computed", "not_recorded", "what_if"]

PRESENT: TriValue = "present"
ABSENT: TriValue = "absent"
UNKNOWN: TriValue = "unknown"


@dataclass(frozen=True)
class Fact:
    name: str
    value: TriValue
    label: str  # what the fact says when present, in a clinician's words
    origin: Origin
    detail: str  # where the value came from
    record_at: str  # key path in the case file where a clinician records it
    lesions: tuple[int, ...] = ()
    # present, but the clinician holds another cause more likely (EULAR/ACR 2019 SLE does not
    # count such a criterion: ``criteria.sle_2019``); free text, never shown to researchers
    attributed_to: str | None = None


class Facts(Mapping[str, Fact]):
    """An immutable map of fact name to :class:`Fact`, plus the few non-tri-state inputs."""

    def __init__(
        self,
        facts: dict[str, Fact],
        *,
        muscle_biopsy_done: bool,
        onset_age: float | None,
        skin_disease_months: float | None,
    ) -> None:
        self._facts = facts
        self.muscle_biopsy_done = muscle_biopsy_done
        self.onset_age = onset_age
        self.skin_disease_months = skin_disease_months
        # A what-if copy: the facts it was made from and the names it changed. Rule engines
        # reuse the original's value of an expression that reads none of those names
        # (``criteria.base``), cached in the original's ``memo``.
        self.what_if_of: tuple[Facts, frozenset[str]] | None = None
        self.memo: dict[int, tuple[object, TriValue]] = {}

    def __getitem__(self, name: str) -> Fact:
        return self._facts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    def value(self, name: str) -> TriValue:
        return self._facts[name].value

    def replaced(self, changed: Mapping[str, Fact]) -> Facts:
        """A copy with some facts replaced whole (a rule set's own reading of them); the copy is a
        case of its own, not a what-if copy."""
        return Facts(
            {**self._facts, **changed},
            muscle_biopsy_done=self.muscle_biopsy_done,
            onset_age=self.onset_age,
            skin_disease_months=self.skin_disease_months,
        )

    def with_values(self, overrides: Mapping[str, TriValue]) -> Facts:
        """A copy with some facts set (for what-if analysis); the original is untouched."""
        new = dict(self._facts)
        for name, value in overrides.items():
            # Not Fact(...) nor dataclasses.replace: a frozen dataclass's __init__ sets each field
            # through object.__setattr__, and this runs for every what-if re-run (~140 per case).
            g = object.__new__(Fact)
            g.__dict__.update(new[name].__dict__, value=value, origin="what_if", detail="what if")
            new[name] = g
        copy = Facts(
            new,
            muscle_biopsy_done=self.muscle_biopsy_done,
            onset_age=self.onset_age,
            skin_disease_months=self.skin_disease_months,
        )
        base, changed = self.what_if_of or (self, frozenset[str]())
        copy.what_if_of = (base, changed | frozenset(overrides))
        return copy


@cache
def known_fact_names() -> frozenset[str]:
    """Every fact name ``build_facts`` produces (the same for every case)."""
    from ifnscope.case.model import FORMAT

    return frozenset(build_facts(Case(format=FORMAT, id="vocabulary")))


def _tri_from_bool(b: bool | None) -> TriValue:
    return UNKNOWN if b is None else (PRESENT if b else ABSENT)


def _one_lab_fact(name: str, text: str, label: str, at: str, lab: LabValue) -> Fact:
    unit = f" {lab.unit}" if lab.unit else ""
    when = f" ({lab.date})" if lab.date else ""
    if lab.value is not None and lab.upper_limit is not None:
        above = lab.value > lab.upper_limit
        rel = ">" if above else "≤"
        return Fact(
            name,
            PRESENT if above else ABSENT,
            text,
            "computed",
            f"{label} {lab.value:g}{unit} {rel} upper limit {lab.upper_limit:g}{unit}{when}",
            at,
        )
    shown = f"{label} {lab.value:g}{unit}, " if lab.value is not None else f"{label} "
    if lab.stated is not None:
        reading = "above" if lab.stated == "elevated" else "not above"
        return Fact(
            name,
            PRESENT if lab.stated == "elevated" else ABSENT,
            text,
            "recorded",
            f"{shown}reported {lab.stated}{when} without "
            + ("its upper limit" if lab.value is not None else "a value")
            + f": read as {reading} the upper limit of normal",
            at,
        )
    return Fact(
        name,
        UNKNOWN,
        text,
        "not_recorded",
        f"{shown.rstrip(', ')}{when} recorded without its upper limit of normal",
        at,
    )


def _lab_fact(key: str, label: str, lab: LabValue | list[LabValue] | None) -> Fact:
    """``<lab>_above_uln``: the value against the laboratory's upper limit of normal; without
    both, the result as the report stated it ("normal" is not above the upper limit: the
    laboratory calls normal what lies within its reference range); else unknown.

    A series is above when any result is above its own limit: the highest result (relative to
    its limit) is the one that decides, as ``data/lab_findings.yaml`` ``enzyme_series`` says;
    it is not above only when every result is known not to be."""
    name = f"{key}_above_uln"
    at = f"labs.{key}"
    text = f"{label} above the upper limit of normal"
    series = results(lab)
    if not series:
        return Fact(name, UNKNOWN, text, "not_recorded", f"{label} not recorded", at)
    if len(series) == 1:
        return _one_lab_fact(name, text, label, at, series[0])
    each = [_one_lab_fact(name, text, label, at, r) for r in series]
    n = len(series)
    above = [(i, f) for i, f in enumerate(each) if f.value == PRESENT]
    if above:

        def ratio(i: int) -> float:  # a result stated elevated, without a number, ranks last
            r = series[i]
            return r.value / r.upper_limit if r.value is not None and r.upper_limit else 0.0

        top = max(above, key=lambda p: ratio(p[0]))[1]
        origin: Origin = "computed" if any(f.origin == "computed" for _, f in above) else "recorded"
        return replace(
            top,
            origin=origin,
            detail=f"{top.detail}: the highest of {n} results against its limit ({len(above)} above it)",
        )
    unknown = [f for f in each if f.value == UNKNOWN]
    if unknown:
        return Fact(
            name,
            UNKNOWN,
            text,
            "not_recorded",
            f"{n - len(unknown)} of {n} results not above the limit; {unknown[0].detail}",
            at,
        )
    return Fact(
        name,
        ABSENT,
        text,
        "computed" if any(f.origin == "computed" for f in each) else "recorded",
        f"all {n} results not above the limit: " + "; ".join(f.detail for f in each),
        at,
    )


# An equivocal (borderline) result is recorded, but counts neither way: the fact stays unknown,
# and the what-if lists it where a positive or a negative result would change a result.
_EQUIVOCAL = "recorded equivocal (borderline): counted neither positive nor negative"
_ANA_AT = "labs.antibodies.ana"

_ANTIBODY_LABELS = {
    "ana": "ANA reported positive by the laboratory",
    "false_positive_rpr": "False-positive RPR",
}
# The antiphospholipid panel: the vocabulary's ``antiphospholipid`` is "anticardiolipin,
# anti-beta2-glycoprotein I or lupus anticoagulant", each of which may also be recorded alone.
_APL_PARTS = ("cardiolipin", "b2gpi", "lupus_anticoagulant")


def _antiphospholipid_panel(facts: dict[str, Fact]) -> None:
    """The panel and its parts read each other: a part recorded positive makes the panel
    positive, all three recorded negative make it negative, and a panel recorded negative makes
    an unrecorded part negative. Nothing else is filled in (a false-positive RPR is not part of
    the panel)."""
    panel = facts["antibody_antiphospholipid"]
    parts = [facts[f"antibody_{k}"] for k in _APL_PARTS]
    if panel.value == UNKNOWN:
        positive = [p for p in parts if p.value == PRESENT]
        if positive:
            facts[panel.name] = replace(
                panel, value=PRESENT, origin="derived", detail=f"{positive[0].label} (recorded)"
            )
        elif all(p.value == ABSENT for p in parts):
            facts[panel.name] = replace(
                panel,
                value=ABSENT,
                origin="derived",
                detail="anticardiolipin, anti-beta2-glycoprotein I and lupus anticoagulant recorded negative",
            )
    elif panel.value == ABSENT:
        for p in parts:
            if p.value == UNKNOWN and p.origin == "not_recorded":  # an equivocal part stays so
                facts[p.name] = replace(
                    p, value=ABSENT, origin="derived", detail="antiphospholipid antibodies recorded negative"
                )


@cache
def ana_titre_above_any_reference_range() -> int:
    """The titre read as above the laboratory's reference range when the case records neither
    the laboratory's call nor its cut-off (``data/criteria/slicc_2012.yaml``, with its source)."""
    raw = load_yaml("criteria/slicc_2012.yaml")["ana_without_laboratory_range"]
    return int(raw["above_from_titre"])


def _ana_facts(titre: int | None, cutoff: int | None, call: str | None) -> list[Fact]:
    """The three ANA facts, from the titre, the laboratory's cut-off and its titre-less call.

    * ``ana_at_least_1_80`` (2019 entry criterion: "ANA at a titre of >=1:80 on HEp-2 cells or an
      equivalent positive test"): the titre when one is recorded; otherwise a positive result
      without a titre is the equivalent positive test.
    * ``ana_above_reference_range`` (SLICC 2012: "ANA level above laboratory reference range"):
      the laboratory's call; otherwise the titre against the laboratory's cut-off; otherwise a
      titre at or above :func:`ana_titre_above_any_reference_range`; a lower titre without the
      laboratory's range is unknown.
    * ``ana_positive``: any positive ANA result (a titre above 0 or a positive call).
    """
    equivocal = call == "equivocal"
    call = call if call in ("positive", "negative") else None
    at = "labs.ana_titer"
    if titre is not None:
        shown = f"ANA 1:{titre}" if titre else "ANA negative"
        e80 = Fact(
            "ana_at_least_1_80",
            PRESENT if titre >= 80 else ABSENT,
            _ANA_80,
            "computed",
            shown,
            at,
        )
    elif call is not None:
        e80 = Fact(
            "ana_at_least_1_80",
            PRESENT if call == "positive" else ABSENT,
            _ANA_80,
            "recorded",
            "ANA positive without a titre: an equivalent positive test"
            if call == "positive"
            else "ANA recorded negative",
            "labs.antibodies.ana",
        )
    elif equivocal:
        e80 = Fact("ana_at_least_1_80", UNKNOWN, _ANA_80, "recorded", f"ANA {_EQUIVOCAL}", _ANA_AT)
    else:
        e80 = Fact("ana_at_least_1_80", UNKNOWN, _ANA_80, "not_recorded", "ANA not recorded", at)

    ref_at = "labs.ana_titer_cutoff"
    above = "ANA above the laboratory's reference range"
    if call is not None:
        ref = Fact(
            "ana_above_reference_range",
            PRESENT if call == "positive" else ABSENT,
            above,
            "recorded",
            f"the laboratory reports ANA {call}" + (f" (1:{titre})" if titre else ""),
            "labs.antibodies.ana",
        )
    elif titre == 0:
        ref = Fact("ana_above_reference_range", ABSENT, above, "computed", "ANA negative", at)
    elif titre is not None and cutoff is not None:
        ref = Fact(
            "ana_above_reference_range",
            _tri_from_bool(titre >= cutoff),
            above,
            "computed",
            f"ANA 1:{titre} {'≥' if titre >= cutoff else '<'} the laboratory's cut-off 1:{cutoff}",
            at,
        )
    elif titre is not None and titre >= (limit := ana_titre_above_any_reference_range()):
        ref = Fact(
            "ana_above_reference_range",
            PRESENT,
            above,
            "computed",
            f"ANA 1:{titre} without the laboratory's range: 1:{limit} and above is above the range "
            "of 95% of healthy people (Tan 1997)",
            at,
        )
    elif titre is not None:
        ref = Fact(
            "ana_above_reference_range",
            UNKNOWN,
            above,
            "not_recorded",
            f"ANA 1:{titre} without the laboratory's reference range (record its cut-off, "
            "labs.ana_titer_cutoff, or its call, labs.antibodies.ana)",
            ref_at,
        )
    elif equivocal:
        ref = Fact("ana_above_reference_range", UNKNOWN, above, "recorded", f"ANA {_EQUIVOCAL}", _ANA_AT)
    else:
        ref = Fact("ana_above_reference_range", UNKNOWN, above, "not_recorded", "ANA not recorded", at)

    positive = (titre or 0) > 0 or call == "positive"
    negative = titre == 0 or (titre is None and call == "negative")
    pos = Fact(
        "ana_positive",
        PRESENT if positive else ABSENT if negative else UNKNOWN,
        "ANA positive",
        "computed" if positive or negative else "recorded" if equivocal and titre is None else "not_recorded",
        e80.detail if titre is not None or call is None else ref.detail,
        at,
    )
    return [e80, pos, ref]


_ANA_80 = "ANA at a titre of at least 1:80 (or an equivalent positive test)"


def build_facts(case: Case, derivation: DerivationResult | None = None) -> Facts:
    """All facts of a case; ``derivation`` may be passed to avoid deriving twice."""
    voc = vocabulary()
    der = derivation or derive_findings(case)
    facts: dict[str, Fact] = {}

    def put(f: Fact) -> None:
        facts[f.name] = f

    # Findings: a recorded value wins; otherwise a lesion-derived 'present'; otherwise unknown.
    records = case.finding_records()
    from_labs = findings_from_labs(case)
    for name, info in voc.findings.items():
        at = f"findings.{name}"
        if name in records:
            r = records[name]
            value: TriValue = UNKNOWN if r.value == "uncertain" else r.value
            detail = f"recorded as {r.value}"
            if r.value == "uncertain":
                detail = "recorded uncertain: not counted"
            if r.resolved:
                detail += " (resolved: counted as having occurred)"
            if r.attributed_to:
                detail += f", attributed to {r.attributed_to}"
            if name in der.derived and value != PRESENT:
                nums = ", ".join(str(n) for n in der.derived[name].lesions)
                detail += f" (lesion {nums} would derive it as present; the recorded value wins)"
            origin: Origin = "recorded" if value != UNKNOWN or r.value == "uncertain" else "not_recorded"
            put(Fact(name, value, info.label, origin, detail, at, attributed_to=r.attributed_to))
        elif name in der.derived:
            d = der.derived[name]
            words = "; ".join(f"lesion {n}: {describe_lesion(case.lesions[n - 1])}" for n in d.lesions)
            put(Fact(name, PRESENT, info.label, "derived", f"derived from {words}", at, tuple(d.lesions)))
        elif name in from_labs:
            put(from_labs[name])
        else:
            put(Fact(name, UNKNOWN, info.label, "not_recorded", "not recorded", at))

    labs = case.labs
    for key, label in voc.labs_numeric.items():
        put(_lab_fact(key, label if key != "ck" else "CK", getattr(labs, key)))

    antibodies = labs.antibodies.model_dump()
    for key, label in voc.antibodies.items():
        result = antibodies.get(key)
        status: TriValue = {"positive": PRESENT, "negative": ABSENT}.get(result or "", UNKNOWN)
        detail = _EQUIVOCAL if result == "equivocal" else f"recorded {result}" if result else "not recorded"
        put(
            Fact(
                f"antibody_{key}",
                status,
                _ANTIBODY_LABELS.get(key, f"{label} positive"),
                "recorded" if status != UNKNOWN or result == "equivocal" else "not_recorded",
                detail,
                f"labs.antibodies.{key}",
            )
        )
    _antiphospholipid_panel(facts)
    for f in _ana_facts(labs.ana_titer, labs.ana_titer_cutoff, antibodies.get("ana")):
        put(f)

    for key, label in (("c3_low", "Low C3"), ("c4_low", "Low C4"), ("ch50_low", "Low CH50")):
        v = getattr(labs, key)
        measured = results(getattr(labs, key.removesuffix("_low"), None))
        if v is None and measured:  # the values against their lower limits (any occasion counts)
            low = [m for m in measured if m.value < m.lower_limit]

            def shown(m: Any, key: str = key) -> str:
                unit = f" {m.unit}" if m.unit else ""
                rel = "<" if m.value < m.lower_limit else "≥"
                when = f" ({m.date})" if m.date else ""
                return f"{key[:2].upper()} {m.value:g}{unit}{when} {rel} lower limit {m.lower_limit:g}{unit}"

            put(
                Fact(
                    key,
                    PRESENT if low else ABSENT,
                    label,
                    "computed",
                    "; ".join(map(shown, low or measured)),
                    f"labs.{key.removesuffix('_low')}",
                )
            )
            continue
        put(
            Fact(
                key,
                v or UNKNOWN,
                label,
                "recorded" if v not in (None, UNKNOWN) else "not_recorded",
                f"recorded as {v}" if v else "not recorded",
                f"labs.{key}",
            )
        )

    ln = labs.lupus_nephritis_class
    known = ln not in (None, "unknown")
    ln_detail = (
        f"renal biopsy class {ln}"
        if known and ln != "none"
        else ("no lupus nephritis on biopsy" if ln == "none" else "not recorded")
    )
    ln_origin: Origin = "recorded" if known else "not_recorded"

    def ln_fact(name: str, label: str, wanted: set[str]) -> Fact:
        v = _tri_from_bool(bool(classes & wanted)) if known else UNKNOWN
        return Fact(name, v, label, ln_origin, ln_detail, "labs.lupus_nephritis_class")

    # A combined class (ISN/RPS 2003: class V with III or IV, "both will be diagnosed") has both.
    classes = set(ln.split("+")) if known and ln else set()
    put(ln_fact("lupus_nephritis_class_ii_or_v", "Biopsy class II or V lupus nephritis", {"II", "V"}))
    put(ln_fact("lupus_nephritis_class_iii_or_iv", "Biopsy class III or IV lupus nephritis", {"III", "IV"}))
    put(
        ln_fact(
            "lupus_nephritis_biopsy", "Biopsy-proven lupus nephritis", {"I", "II", "III", "IV", "V", "VI"}
        )
    )

    # Muscle studies and biopsy: 'not_done' is unknown (the test could still change things).
    muscle = case.muscle
    for key, label in (("mri", "Muscle MRI abnormal"), ("emg", "EMG abnormal")):
        v = getattr(muscle, key)
        tv: TriValue = {"abnormal": PRESENT, "normal": ABSENT}.get(v or "", UNKNOWN)
        detail = {"abnormal": "abnormal", "normal": "normal", "not_done": "not done"}.get(
            v or "", "not recorded"
        )
        put(
            Fact(
                f"{key}_abnormal",
                tv,
                label,
                "recorded" if tv != UNKNOWN else "not_recorded",
                f"{key.upper()} {detail}",
                f"muscle.{key}",
            )
        )
    biopsy = muscle.biopsy
    done = biopsy is not None and biopsy.done
    features = biopsy.model_dump(exclude={"done"}) if biopsy is not None and biopsy.done else {}
    for key, label in voc.muscle_biopsy.items():
        v = features.get(key) if done else None
        if not done:
            detail = "muscle biopsy not done" if biopsy is not None else "muscle biopsy not recorded"
        else:
            detail = f"biopsy: {v}" if v else "biopsy done, feature not reported"
        put(
            Fact(
                f"muscle_biopsy_{key}",
                v or UNKNOWN,
                f"Muscle biopsy: {label.lower()}",
                "recorded" if v not in (None, UNKNOWN) else "not_recorded",
                detail,
                f"muscle.biopsy.{key}",
            )
        )
    vals = [facts[f"muscle_biopsy_{k}"].value for k in voc.muscle_biopsy]
    any_abn: TriValue = (
        PRESENT if PRESENT in vals else ABSENT if vals and all(v == ABSENT for v in vals) else UNKNOWN
    )
    put(
        Fact(
            "muscle_biopsy_abnormal",
            any_abn,
            "Muscle biopsy abnormal",
            "computed" if done else "not_recorded",
            "from the biopsy features" if done else "muscle biopsy not done",
            "muscle.biopsy",
        )
    )

    # Onset age bands (mutually exclusive). Without an onset age, the visit age bounds it.
    onset, age = case.onset.age_years, case.patient.age_years
    bands: dict[str, tuple[str, Callable[[float], bool]]] = {
        "onset_age_under_18": ("Age at onset of first symptom below 18 years", lambda a: a < 18),
        "onset_age_18_to_40": ("Age at onset of first symptom ≥18 and <40 years", lambda a: 18 <= a < 40),
        "onset_age_40_or_more": ("Age at onset of first symptom ≥40 years", lambda a: a >= 40),
    }
    for name, (label, test) in bands.items():
        if onset is not None:
            put(
                Fact(
                    name,
                    _tri_from_bool(test(onset)),
                    label,
                    "recorded",
                    f"onset at {onset:g} years",
                    "onset.age_years",
                )
            )
            continue
        # onset <= current age: a band entirely above the current age is impossible.
        if age is not None and (
            (name == "onset_age_40_or_more" and age < 40) or (name == "onset_age_18_to_40" and age < 18)
        ):
            put(
                Fact(
                    name,
                    ABSENT,
                    label,
                    "computed",
                    f"onset age not recorded, but the patient is {age:g}",
                    "onset.age_years",
                )
            )
        elif age is not None and name == "onset_age_under_18" and age < 18:
            put(
                Fact(
                    name,
                    PRESENT,
                    label,
                    "computed",
                    f"onset age not recorded, but the patient is {age:g}",
                    "onset.age_years",
                )
            )
        else:
            put(Fact(name, UNKNOWN, label, "not_recorded", "onset age not recorded", "onset.age_years"))

    months = case.onset.skin_disease_months
    put(
        Fact(
            "skin_disease_6_months_or_more",
            _tri_from_bool(None if months is None else months >= 6),
            "Skin disease for 6 months or longer",
            "recorded" if months is not None else "not_recorded",
            f"skin disease for {months:g} months" if months is not None else "duration not recorded",
            "onset.skin_disease_months",
        )
    )

    biopsy_features = case.skin_biopsy.model_dump()
    for key, label in voc.skin_biopsy.items():
        v = biopsy_features.get(key)
        put(
            Fact(
                f"skin_biopsy_{key}",
                v or UNKNOWN,
                f"Skin biopsy: {label[:1].lower()}{label[1:]}",
                "recorded" if v not in (None, UNKNOWN) else "not_recorded",
                f"recorded as {v}" if v else "not recorded",
                f"skin_biopsy.{key}",
            )
        )

    history = case.history.model_dump()
    from_sections = history_from_sections(case)
    for key, label in voc.history.items():
        v = history.get(key)
        if v is None and key in from_sections:
            value, detail, at = from_sections[key]
            put(Fact(f"history_{key}", value, label, "derived", detail, at))
            continue
        put(
            Fact(
                f"history_{key}",
                v or UNKNOWN,
                label,
                "recorded" if v not in (None, UNKNOWN) else "not_recorded",
                f"recorded as {v}" if v else "not recorded",
                f"history.{key}",
            )
        )

    cancer = [m for m in case.family_history if m.condition == "cancer"]
    put(
        Fact(
            "family_history_cancer",
            PRESENT if cancer else UNKNOWN,
            "Cancer in a relative",
            "recorded" if cancer else "not_recorded",
            "family_history: " + "; ".join(relative_words(m) for m in cancer) if cancer else "not recorded",
            "family_history",
        )
    )
    return Facts(facts, muscle_biopsy_done=done, onset_age=onset, skin_disease_months=months)


class _Derivation(BaseModel):
    finding: str
    lab: str
    below: float | None = None
    above: float | None = None
    unknown_at_threshold: bool = False
    sources: list[SourceRef]


class _EnzymeSeries(BaseModel):
    reading: Literal["any_result_above_its_limit"]  # the one reading _lab_fact implements
    labs: list[str]
    sources: list[SourceRef]


class _LabFindings(BaseModel):
    counts_per_10e9_l: dict[str, float]
    urine_protein_g_per_day: dict[str, float]
    derivations: list[_Derivation]
    enzyme_series: _EnzymeSeries


@cache
def lab_findings() -> _LabFindings:
    """``data/lab_findings.yaml``: findings derived from laboratory values, with the thresholds."""
    return load_table("lab_findings.yaml", _LabFindings)


def findings_from_labs(case: Case, *, written_too: bool = False) -> dict[str, Fact]:
    """The findings the case's counts and urine protein derive by the criteria's thresholds
    (``data/lab_findings.yaml``); a finding written under ``findings`` is not among them unless
    ``written_too`` (to check the two agree)."""
    table, voc, labs = lab_findings(), vocabulary(), case.labs
    written = {} if written_too else case.finding_records()
    out: dict[str, Fact] = {}
    for d in table.derivations:
        series = results(getattr(labs, d.lab))
        if not series or d.finding in written:
            continue
        limit = d.below if d.below is not None else d.above
        assert limit is not None
        side = "below" if d.below is not None else "above"
        unit_of = table.urine_protein_g_per_day if d.lab == "urine_protein" else table.counts_per_10e9_l
        shown = "g/24 h" if d.lab == "urine_protein" else "×10⁹/L"

        def words(r: Any, lab: str = d.lab) -> str:
            return f"{lab.replace('_', ' ')} {r.value:g} {r.unit}" + (f" ({r.date})" if r.date else "")

        def amount(r: Any, units: dict[str, float] = unit_of) -> float:
            return float(r.value) * units[r.unit]

        # exactly at the limit, up to float noise (500 mg/24 h is 0.5 g): never past it
        at_limit = [r for r in series if abs(amount(r) - limit) < 1e-9]
        crossing = [r for r in series if r not in at_limit and (amount(r) < limit) == (side == "below")]
        if crossing:  # the criteria count a value on any occasion (data/lab_findings.yaml)
            value, detail = PRESENT, f"{'; '.join(map(words, crossing))}: {side} {limit:g} {shown}"
        elif at_limit and d.unknown_at_threshold:
            value = UNKNOWN
            detail = f"{words(at_limit[0])}: exactly at {limit:g} {shown}, where the criteria's words differ"
        else:
            value = ABSENT
            when = "at this visit" if len(series) == 1 else f"in the {len(series)} results recorded"
            detail = (
                f"{'; '.join(map(words, series))}: not {side} {limit:g} {shown} {when} (the criteria "
                "count a value on any occasion: record an earlier one that was)"
            )
        label = voc.findings[d.finding].label
        out[d.finding] = Fact(d.finding, value, label, "computed", detail, f"labs.{d.lab}")
    return out


def relative_words(m: FamilyMember) -> str:
    """'mother: Systemic lupus erythematosus'."""
    return f"{m.relative.replace('_', ' ')}: {vocabulary().family_conditions[m.condition].label}"


def history_from_sections(case: Case) -> dict[str, tuple[TriValue, str, str]]:
    """The ``history`` words the case's own sections give (value, detail, key path), for a word
    the ``history`` map leaves out: smoking from ``smoking``, cancer from ``cancer_history``,
    interstitial lung disease from ``lung``, autoimmune disease in a first-degree relative from
    ``family_history``."""
    out: dict[str, tuple[TriValue, str, str]] = {}
    if case.smoking is not None:
        sm = case.smoking
        packs = f", {sm.pack_years:g} pack-years" if sm.pack_years is not None else ""
        out["smoking"] = (
            ABSENT if sm.status == "never" else PRESENT,
            f"smoking: {sm.status}{packs}",
            "smoking",
        )
    if case.cancer_history:
        words = "; ".join(
            c.type + (f" ({c.diagnosed})" if c.diagnosed else "") + (", active" if c.active else "")
            for c in case.cancer_history
        )
        out["cancer"] = (PRESENT, f"cancer_history: {words}", "cancer_history")
    lung = case.lung
    if lung is not None and (lung.hrct_pattern is not None or lung.rapidly_progressive):
        if lung.rapidly_progressive or lung.hrct_pattern != "normal":
            what = "rapidly progressive" if lung.rapidly_progressive else f"HRCT {lung.hrct_pattern}"
            out["ild"] = (PRESENT, f"lung: {what}", "lung")
        else:
            out["ild"] = (ABSENT, "lung: HRCT normal", "lung")
    if first_degree := first_degree_autoimmune(case):
        out["autoimmune_family_history"] = (
            PRESENT,
            f"from family_history: {'; '.join(first_degree)}",
            "family_history",
        )
    return out


def first_degree_autoimmune(case: Case) -> list[str]:
    """The family history's autoimmune diseases in first-degree relatives (parents, siblings,
    children), in words: what ``history.autoimmune_family_history`` says in one word."""
    voc = vocabulary()
    return [
        relative_words(m)
        for m in case.family_history
        if voc.family_relatives[m.relative] == 1 and voc.family_conditions[m.condition].autoimmune
    ]

"""The presentation model: what every output shows of one assessment, built once.

:func:`ifnscope.presentation.build` fills these from the assessment's JSON contract; the
terminal report, the HTML/PDF report and the web visit page only lay them out. Text fields are
final wording; ``cites`` are the numbers of :attr:`AssessmentView.references` (numbered in the
order the report first cites them), so a renderer that shows citation marks needs no
numbering of its own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ifnscope.presentation.words import join_or, short_label

Cites = tuple[int, ...]


class View(BaseModel):
    """Base of every view: frozen and closed, so a renderer cannot change what another shows."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ------------------------------------------------------------------------------- header


class Header(View):
    case_id: str
    title: str | None
    disclaimer: str
    ifnscope_version: str
    rules_version: str | None = None

    @property
    def heading(self) -> str:
        return self.title or self.case_id


class SourceView(View):
    """One numbered source: its citation and every confidence tag it was cited at."""

    n: int
    id: str
    citation: str
    tags: str
    unverified: bool


# ----------------------------------------------------------------------------- criteria


class Verdict(View):
    """One criteria set in words: ``word`` (bold in every output) and ``text`` (the why)."""

    key: str
    short: str
    word: str
    text: str
    met: bool

    @property
    def sentence(self) -> str:
        """The one verdict sentence: 'probable IIM, score 6.5 (≈76%), amyopathic dermatomyositis'."""
        return f"{self.word}, {self.text}" if self.text else self.word


class ItemRow(View):
    """An item that counts, or an unrecorded item that would change the result."""

    label: str
    points: str
    status: str
    counted: bool
    because: str
    cites: Cites = ()


class Step(View):
    question: str
    answer: str
    because: str
    cites: Cites = ()


class WhatIf(View):
    """Unrecorded findings that would give the same result if present (one line per result)."""

    label: str
    result: str
    record_at: str


class Note(View):
    text: str
    cites: Cites = ()


class Subgroup(View):
    path: str
    result: str
    cites: Cites = ()


class CriteriaView(View):
    key: str
    short: str
    title: str
    use_when: str
    verdict: Verdict
    cites: Cites = ()
    lines: tuple[str, ...] = ()
    subgroup: Subgroup | None = None
    steps: tuple[Step, ...] = ()
    rows: tuple[ItemRow, ...] = ()
    absent: int = 0
    unknown: int = 0
    what_if: tuple[WhatIf, ...] = ()
    caveats: tuple[Note, ...] = ()
    notes: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        return self.verdict.met

    @property
    def rest(self) -> str:
        """The items not shown, in one line."""
        rest = []
        if self.absent:
            rest.append(f"{self.absent} recorded absent or not met")
        if self.unknown:
            rest.append(f"{self.unknown} not recorded, none of which alone would change the result")
        return ("Other items: " + "; ".join(rest) + ".") if rest else ""

    @property
    def compact(self) -> bool:
        """Nothing counted and nothing decisive: one line is enough."""
        return not (self.rows or self.steps or self.what_if or self.caveats)


# ----------------------------------------------------------------------------- evidence


class DerivedFinding(View):
    name: str
    label: str
    lesions: str

    @property
    def sentence(self) -> str:
        return f"{self.label} from {self.lesions}" if self.lesions else self.label


class Evidence(View):
    """What the described lesions were read as."""

    derived: tuple[DerivedFinding, ...] = ()
    conflicts: tuple[str, ...] = ()
    near_misses: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.derived or self.conflicts or self.near_misses)


class UnknownFinding(View):
    label: str
    record_at: str


class UnknownGroup(View):
    """Unrecorded findings that would cause the same changes if recorded present."""

    findings: tuple[UnknownFinding, ...]
    changes: tuple[str, ...]

    @property
    def labels(self) -> str:
        return join_or(short_label(f.label) for f in self.findings)

    @property
    def record_at(self) -> str:
        return ", ".join(dict.fromkeys(f.record_at for f in self.findings if f.record_at))


class UnknownSet(View):
    """Unrecorded findings that would change results only if all were recorded present (none
    alone, nor, for three, any two): each finding with the others that would do the same."""

    findings: tuple[UnknownFinding, ...]
    alternatives: tuple[tuple[str, ...], ...] = ()  # per finding, the labels that could stand in
    changes: tuple[str, ...]

    @property
    def labels(self) -> str:
        """'Heliotrope rash + Gottron's sign'; a finding with alternatives reads 'CK above the
        upper limit of normal (or LDH …)'."""
        parts = []
        for i, f in enumerate(self.findings):
            alts = self.alternatives[i] if i < len(self.alternatives) else ()
            text = short_label(f.label)
            if alts:
                text += " (or " + join_or(short_label(a) for a in alts) + ")"
            parts.append(text)
        return " + ".join(parts)

    @property
    def record_at(self) -> str:
        return ", ".join(dict.fromkeys(f.record_at for f in self.findings if f.record_at))


# -------------------------------------------------------------------------- differential


class Feature(View):
    label: str
    tier: str
    because: str
    note: str
    cites: Cites = ()


class PictureChange(View):
    result: str
    labels: str


class TestHint(View):
    test: str
    why: str
    could_change: bool
    cites: Cites = ()


class Differential(View):
    favours: str = "indeterminate"
    mixed: bool = False
    summary: str = ""
    dm: tuple[Feature, ...] = ()
    lupus: tuple[Feature, ...] = ()
    not_weighed: tuple[Feature, ...] = ()
    recorded_absent: tuple[str, ...] = ()
    not_recorded: tuple[str, ...] = ()
    what_if: tuple[PictureChange, ...] = ()
    tests: tuple[TestHint, ...] = ()
    rule: str = ""
    rule_cites: Cites = ()


# ----------------------------------------------------------------------------------- flags


class FlagView(View):
    severity: str
    code: str
    message: str
    short: str
    evidence: tuple[str, ...] = ()
    source: str = ""
    section: str = ""
    cites: Cites = ()


# -------------------------------------------------------------------------------- activity


class Area(View):
    label: str
    activity: str
    damage: str
    scored: bool


class IndexItem(View):
    label: str
    part: str
    value: str
    cites: Cites = ()


class Threshold(View):
    label: str
    text: str
    cites: Cites = ()


class IndexView(View):
    """One activity index (CDASI or CLASI) at this visit."""

    short: str
    title: str
    activity: int | None
    activity_range: str
    activity_max: int | None
    damage: int | None
    damage_range: str
    damage_max: int | None
    damage_verified: bool = True
    complete: bool = True
    unscored: int = 0
    unscored_areas: tuple[str, ...] = ()
    band_label: str | None = None
    band_could_be: tuple[str, ...] = ()
    band_rule: str = ""
    band_cites: Cites = ()
    cut_offs: tuple[Note, ...] = ()
    thresholds: tuple[Threshold, ...] = ()
    areas: tuple[Area, ...] = ()
    items: tuple[IndexItem, ...] = ()
    doubled: bool | None = None
    anchors_note: str = ""
    cites: Cites = ()

    @property
    def band(self) -> str:
        if self.band_label is not None:
            return self.band_label
        return "undetermined: " + " or ".join(self.band_could_be)


class ChangeVerdictView(View):
    label: str
    outcome: str
    kind: str
    why: str
    cites: Cites = ()
    note: str = ""  # a trial rule, not the definition, withholds it (CLASI-50 below baseline 10)


class ChangeRow(View):
    """One index's change since the baseline visit (``summary`` alone when not comparable)."""

    index: str
    summary: str
    baseline: str
    followup: str
    change: str
    percent: str
    damage: str | None
    damage_note: str
    verdicts: tuple[ChangeVerdictView, ...] = ()


class Tis(View):
    """A response score that is not computed, and why."""

    label: str
    why: str
    cites: Cites = ()


class ChangeView(View):
    since: str
    rows: tuple[ChangeRow, ...] = ()
    notes: tuple[str, ...] = ()
    tis: Tis | None = None


class ActivityView(View):
    indices: tuple[IndexView, ...] = ()
    change: ChangeView | None = None
    unverified: tuple[str, ...] = ()
    glance: tuple[str, ...] = ()


# -------------------------------------------------------------------------------- triggers


class TriggerRow(View):
    agent: str
    recorded_as: str
    disease: str
    status: str
    strong: bool
    presentation: str
    timing: str
    evidence: str
    strength: str
    latency: str
    fits: bool | None
    cites: Cites = ()


class Triggers(View):
    rows: tuple[TriggerRow, ...] = ()
    set_aside: tuple[TriggerRow, ...] = ()
    medications: int = 0
    unrecognised: tuple[str, ...] = ()
    events_without_rule: tuple[str, ...] = ()
    flags: tuple[FlagView, ...] = ()
    unknowns: tuple[str, ...] = ()


# ------------------------------------------------------------------------------- screening


class TestRow(View):
    label: str
    status: str
    kind: str
    detail: str


class PanelView(View):
    label: str
    recommended_for: str
    recorded: int
    applicable: int
    missing: tuple[str, ...] = ()
    note: str = ""
    tests: tuple[TestRow, ...] = ()
    cites: Cites = ()


class Lung(View):
    antibodies: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    ild: str = "unknown"
    advice: tuple[str, ...] = ()
    unknowns: tuple[str, ...] = ()
    cites: Cites = ()


class Screening(View):
    applies: str = "unknown"
    why: str = ""
    scope: str = ""
    panels: tuple[PanelView, ...] = ()
    other: tuple[str, ...] = ()
    higher: tuple[str, ...] = ()
    lower: tuple[str, ...] = ()
    unknown_factors: tuple[str, ...] = ()
    category_note: str = ""
    counting_rule: str = ""
    additional: tuple[str, ...] = ()
    unverified: tuple[str, ...] = ()
    lung: Lung = Lung()
    flags: tuple[FlagView, ...] = ()
    cites: Cites = ()
    glance: str = ""


# --------------------------------------------------------------------------------- therapy


class HistoryRow(View):
    recorded_as: str
    read_as: str
    status: str
    failed: bool
    level: str
    dates: str


class OptionView(View):
    label: str
    position: str
    level: str
    ifn: bool
    approval: str
    approval_detail: str
    trial: str
    summary: str
    notes: tuple[str, ...] = ()
    cites: Cites = ()


class LevelView(View):
    label: str
    ifn: bool
    tried: str
    options: str


class Therapy(View):
    picture: str = "indeterminate"
    context: tuple[str, ...] = ()
    history: tuple[HistoryRow, ...] = ()
    unrecognised: tuple[str, ...] = ()
    options: tuple[OptionView, ...] = ()
    levels: tuple[LevelView, ...] = ()
    pathway: str = ""
    summary: str = ""
    flags: tuple[FlagView, ...] = ()
    disclaimer: str = ""
    cites: Cites = ()
    glance: str = ""


# ------------------------------------------------------------------------- registry visit
# The parts a registry visit adds to its assessment (presentation/registry.py builds them from
# what registry.services returned, already filtered for the actor: a researcher's have no
# identifiers and no calendar dates).


class PatientIdentity(View):
    """The patient's identifiers (clinicians' reports only: ``None`` fields otherwise)."""

    pseudonym: str
    name: str | None = None
    mrn: str | None = None
    birth_date: str | None = None
    sex: str | None = None

    @property
    def identified(self) -> bool:
        return any((self.name, self.mrn, self.birth_date))


class ScoreLine(View):
    """One stored interferon score of the patient."""

    sample: str
    collected: str
    signature: str
    method: str
    score: str
    call: str
    genes: str
    reference: str


class TreatmentLine(View):
    """One row of the patient's reconciled treatment list."""

    agent: str
    recorded_as: str
    started: str
    stopped: str
    response: str
    ifn_targeted: bool = False


class ChangeLine(View):
    """One index and part at this visit against the latest earlier visit with a complete score."""

    label: str
    previous: str
    since: str
    current: str
    change: str
    verdicts: tuple[ChangeVerdictView, ...] = ()
    no_verdict: str = ""


class RegistrySection(View):
    """What the registry knows beyond the visit's own case: who (for clinicians), the change since
    the previous visit, the stored interferon scores and the treatments."""

    identity: PatientIdentity | None = None
    visit_when: str = ""
    change: tuple[ChangeLine, ...] = ()
    change_notes: tuple[str, ...] = ()
    glance: tuple[str, ...] = ()  # one line per activity change, for the at-a-glance box
    scores: tuple[ScoreLine, ...] = ()
    treatments: tuple[TreatmentLine, ...] = ()


# ------------------------------------------------------------------------------ assessment


class ClinicianRecord(View):
    """What the case records in the clinician's own words, read by no rule: the impression,
    the differential and the family history."""

    impression: str | None = None
    differential: tuple[str, ...] = ()
    family_history: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.impression or self.differential or self.family_history)


class AssessmentView(View):
    """Everything an output shows of one assessment, in the order the report reads."""

    header: Header
    criteria: tuple[CriteriaView, ...] = ()
    evidence: Evidence = Evidence()
    clinician: ClinicianRecord = ClinicianRecord()
    unknowns: tuple[UnknownGroup, ...] = ()
    unknown_sets: tuple[UnknownSet, ...] = ()
    unknown_sets_notes: tuple[str, ...] = ()  # how far the search went, per criteria set
    differential: Differential = Differential()
    activity: ActivityView | None = None
    triggers: Triggers = Triggers()
    screening: Screening = Screening()
    therapy: Therapy = Therapy()
    flags: tuple[FlagView, ...] = ()
    other_flags: tuple[FlagView, ...] = ()
    criteria_unverified: int = 0
    references: tuple[SourceView, ...] = ()
    registry: RegistrySection | None = None  # a registry visit's report only

    @property
    def verdicts(self) -> tuple[Verdict, ...]:
        return tuple(c.verdict for c in self.criteria)

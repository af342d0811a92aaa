"""The case model (``ifnscope-case/1``) as pydantic models.

Maps whose keys are a clinical vocabulary (findings, antibodies, history, biopsy features,
screening tests) are built from ``data/vocabulary.yaml`` so the JSON Schema lists every
allowed key with its description, and an unknown key is an error, never silently dropped.
Every tri-state value defaults to ``None``, which means *not recorded*: unknown, not absent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ifnscope.case.activity_section import Activity
from ifnscope.case.vocabulary import vocabulary

FORMAT = "ifnscope-case/1"

Tri = Literal["present", "absent", "unknown"]
# A finding as written: present, absent, unknown, or uncertain (the clinician wrote it down but is
# not sure: recorded, not counted, and asked about where it matters).
FindingWord = Literal["present", "absent", "unknown", "uncertain"]
# equivocal: the laboratory's borderline or indeterminate result, counted neither positive nor
# negative (an unknown that is recorded as such, and asked about where it matters).
AntibodyResult = Literal["positive", "negative", "equivocal", "unknown"]
# A laboratory result reported without its number ("CK normal"): normal is not above the
# laboratory's upper limit of normal, elevated is above it.
LabStated = Literal["normal", "elevated"]
StudyResult = Literal["normal", "abnormal", "not_done"]
ScreeningResult = Literal["negative", "positive", "not_done"]

_V = vocabulary()
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf or .nan is no measurement


class FindingRecord(BaseModel):
    """A finding with its context: ``{value: present, resolved: true}`` (it occurred and has
    resolved: it still counts, as criteria count what occurred at least once), ``{value: present,
    attributed_to: herpes simplex}`` (another cause is more likely: EULAR/ACR 2019 SLE does not
    count it), ``{value: uncertain}`` (the same as the bare word)."""

    model_config = _STRICT
    value: FindingWord = Field(description="present, absent, unknown or uncertain")
    resolved: bool | None = Field(
        default=None, description="true: it occurred and has resolved (false or left out: current)"
    )
    attributed_to: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Another cause the clinician holds more likely (free text, never shown to researchers)",
    )

    @model_validator(mode="after")
    def _context_of_a_present_finding(self) -> FindingRecord:
        if self.value != "present" and (self.resolved or self.attributed_to):
            raise PydanticCustomError(
                "finding_context",
                "resolved and attributed_to describe a finding that is present",
                {},
            )
        return self


def _finding_form(v: Any) -> str:
    return "record" if isinstance(v, dict | FindingRecord) else "word"


# A word or a map, told apart by the shape written (so a mistake gets one error, for that form)
FindingValue = Annotated[
    Annotated[FindingWord, Tag("word")] | Annotated[FindingRecord, Tag("record")],
    Discriminator(_finding_form),
]


def _vocab_model(name: str, fields: dict[str, str], value_type: Any, doc: str) -> type[BaseModel]:
    """A model with one optional field per vocabulary word; unknown words are errors."""
    spec: dict[str, Any] = {
        key: (value_type | None, Field(default=None, description=desc)) for key, desc in fields.items()
    }
    model = create_model(name, __config__=_STRICT, __doc__=doc, **spec)
    model.__module__ = __name__
    return model


if TYPE_CHECKING:
    # mypy cannot read data/vocabulary.yaml, so it sees what the vocabulary models are made of: a
    # word is a string (pydantic checks it against the vocabulary at run time), and a map has one
    # optional value per word, of the map's value type.
    Site: TypeAlias = str
    Morphology: TypeAlias = str
    Colour: TypeAlias = str
    OnsetEvent: TypeAlias = str
    Response: TypeAlias = str
    Relative: TypeAlias = str
    FamilyConditionWord: TypeAlias = str

    class Findings(BaseModel):
        def __getattr__(self, word: str) -> FindingWord | FindingRecord | None: ...

    class Antibodies(BaseModel):
        def __getattr__(self, word: str) -> AntibodyResult | None: ...

    class History(BaseModel):
        def __getattr__(self, word: str) -> Tri | None: ...

    class SkinBiopsy(BaseModel):
        def __getattr__(self, word: str) -> Tri | None: ...

    class CancerScreening(BaseModel):
        def __getattr__(self, word: str) -> ScreeningResult | None: ...

    class _MuscleBiopsyBase(BaseModel):
        def __getattr__(self, word: str) -> Tri | None: ...

else:
    Site = Literal[_V.sites]
    Morphology = Literal[_V.morphologies]
    Colour = Literal[_V.colours]
    OnsetEvent = Literal[_V.onset_after]
    Response = Literal[_V.medication_response]
    Relative = Literal[tuple(_V.family_relatives)]
    FamilyConditionWord = Literal[tuple(_V.family_conditions)]

    Findings = _vocab_model(
        "Findings",
        {k: f"{v.label}: {v.description}" for k, v in _V.findings.items()},
        FindingValue,
        "Findings: present, absent, unknown or uncertain, or a map with the value and its context "
        "(resolved, attributed_to). A finding not written is unknown, never absent.",
    )
    Antibodies = _vocab_model("Antibodies", _V.antibodies, AntibodyResult, "Antibody results.")
    History = _vocab_model("History", _V.history, Tri, "Relevant history: present/absent/unknown.")
    SkinBiopsy = _vocab_model("SkinBiopsy", _V.skin_biopsy, Tri, "Skin biopsy features.")
    CancerScreening = _vocab_model(
        "CancerScreening", _V.cancer_screening, ScreeningResult, "Cancer screening already done."
    )
    _MuscleBiopsyBase = _vocab_model("MuscleBiopsyFeatures", _V.muscle_biopsy, Tri, "Muscle biopsy features.")


class MuscleBiopsy(_MuscleBiopsyBase):
    """A muscle biopsy: ``not_done`` in the file, or a map of its features."""

    done: bool = Field(default=True, description="False when the file says biopsy: not_done")

    @model_serializer(mode="wrap")
    def _as_written(self, handler: Any) -> Any:
        """Serialise as the case format writes it (``not_done`` or the feature map), so that a
        stored case reads back unchanged."""
        if not self.done:
            return "not_done"
        out = handler(self)
        out.pop("done", None)
        return out


def _biopsy_before(value: Any) -> Any:
    if value == "not_done":
        return {"done": False}
    if isinstance(value, str):
        raise PydanticCustomError(
            "biopsy_value",
            "expected 'not_done' or a map of biopsy features, got {value}",
            {"value": repr(value)},
        )
    if value is not None and not isinstance(value, dict):
        raise PydanticCustomError(
            "biopsy_value",
            "expected 'not_done' or a map of biopsy features, got {value}",
            {"value": str(value).lower() if isinstance(value, bool) else repr(value)},
        )
    if isinstance(value, dict) and "done" in value:
        raise PydanticCustomError(
            "biopsy_value", "'done' is not a biopsy feature; write biopsy: not_done instead", {}
        )
    return value


# Reciprocal ANA titres are doubling dilutions: 1:10, 1:20, 1:40 ... or 1:25, 1:50, 1:100 ...
_TITRE_BASES = (5, 25, 10, 20, 40)


def _parse_titre(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("titre_type", "expected a reciprocal titre such as 160, got a boolean", {})
    if isinstance(value, str):
        m = re.fullmatch(r"\s*1\s*:\s*(\d+)\s*", value)
        if m:
            return int(m.group(1))
        if value.strip().isdigit():
            return int(value)
        hint = (
            " (a positive or negative ANA without a titre is written labs.antibodies.ana: positive)"
            if value.strip().lower() in ("positive", "negative", "pos", "neg", "+", "-")
            else ""
        )
        raise PydanticCustomError(
            "titre_format",
            "expected a reciprocal titre such as 160 (for 1:160) or 0 for negative, got {value}{hint}",
            {"value": repr(value), "hint": hint},
        )
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_dilution(titre: int) -> bool:
    """True for 0 (negative) or a reciprocal doubling dilution (…, 40, 80, 160, … or 50, 100, …)."""
    if titre == 0:
        return True
    if titre < 0:
        return False
    for base in _TITRE_BASES:
        t = titre
        if t % base:
            continue
        t //= base
        if t & (t - 1) == 0:  # a power of two
            return True
    return False


def _check_titre(value: int) -> int:
    if not is_dilution(value):
        raise PydanticCustomError(
            "titre_dilution",
            "{value} is not a dilution; a reciprocal titre is 0 (negative) or a doubling dilution "
            "such as 40, 80, 160, 320, 640, 1280 (or 50, 100, 200 …)",
            {"value": value},
        )
    return value


AnaTitre = Annotated[int, BeforeValidator(_parse_titre)]

# ISN/RPS 2003 lupus nephritis classes. Class V "may occur in combination with class III or IV
# in which case both will be diagnosed" (Weening 2004, Table 4 note c): III+V and IV+V.
_NEPHRITIS_CLASSES = ("I", "II", "III", "IV", "V", "VI")
NephritisClass = Literal["I", "II", "III", "IV", "V", "III+V", "IV+V", "VI", "none", "unknown"]


def _nephritis_class(value: Any) -> Any:
    """'iv + v', 'V+IV' or 'IV/V' -> 'IV+V': one spelling per class or combination (a
    combination the classification does not have stays as written and is refused)."""
    if not isinstance(value, str):
        return value
    parts = [p for p in re.split(r"\s*(?:\+|/|&|,|\band\b)\s*", value.strip(), flags=re.I) if p]
    upper = [p.upper() for p in parts]
    if not upper or not all(p in _NEPHRITIS_CLASSES for p in upper):
        return value
    return "+".join(sorted(set(upper), key=_NEPHRITIS_CLASSES.index))


_PARTIAL_DATE = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"


def _date_to_str(value: Any) -> Any:
    # YAML reads 2024-03-01 as a date object; keep one representation.
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return value


PartialDate = Annotated[str, BeforeValidator(_date_to_str), Field(pattern=_PARTIAL_DATE)]


class LabValue(BaseModel):
    """A laboratory result: the measured ``value`` with the laboratory's ``upper_limit`` of
    normal, or the result as the report ``stated`` it without a number ("CK normal": ``ck:
    {stated: normal}``), or both."""

    model_config = _STRICT
    stated: LabStated | None = Field(
        default=None,
        description="The result as reported without a number: normal (not above the upper limit of "
        "normal) or elevated (above it)",
    )
    value: float | None = Field(
        default=None, ge=0, validate_default=True, description="The measured value (or give stated)"
    )
    upper_limit: float | None = Field(default=None, gt=0, description="Upper limit of normal")
    unit: str | None = Field(default=None, description="Unit, e.g. U/L")
    date: PartialDate | None = Field(default=None, description="When it was measured (in a series)")

    @field_validator("value")
    @classmethod
    def _value_or_stated(cls, v: float | None, info: ValidationInfo) -> float | None:
        # ``stated`` missing from info.data: it was given but failed (that error says enough)
        if v is None and "stated" in info.data and info.data["stated"] is None:
            raise PydanticCustomError(
                "lab_result_missing",
                "a value (with its upper_limit) or the stated result (stated: normal or elevated)",
                {},
            )
        return v

    @property
    def above_upper_limit(self) -> bool | None:
        """Above the upper limit of normal: by the number where it has its limit, else as stated."""
        if self.value is not None and self.upper_limit is not None:
            return self.value > self.upper_limit
        if self.stated is not None:
            return self.stated == "elevated"
        return None


def _lab_units() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from ifnscope.data import load_yaml

    raw = load_yaml("lab_findings.yaml")
    return tuple(raw["counts_per_10e9_l"]), tuple(raw["urine_protein_g_per_day"])


_COUNT_UNITS, _URINE_UNITS = _lab_units()
if TYPE_CHECKING:
    CountUnit: TypeAlias = str
    UrineProteinUnit: TypeAlias = str
else:
    CountUnit = Literal[_COUNT_UNITS]
    UrineProteinUnit = Literal[_URINE_UNITS]


class CountValue(BaseModel):
    """A blood count with its unit (the unit is required: 4.0 and 4,000 are the same count)."""

    model_config = _STRICT
    value: float = Field(ge=0, description="The count")
    unit: CountUnit = Field(description="10^9/L (= G/L = 10^3/uL) or /mm3 (= /uL)")
    date: PartialDate | None = Field(default=None, description="When it was measured (in a series)")


class UrineProtein(BaseModel):
    """Urine protein per 24 hours, or a spot protein/creatinine ratio (g/g or mg/mg)."""

    model_config = _STRICT
    value: float = Field(ge=0, description="The amount or ratio")
    unit: UrineProteinUnit = Field(description="g/24h, mg/24h, or a ratio in g/g or mg/mg")
    date: PartialDate | None = Field(default=None, description="When it was measured (in a series)")


class LowerLimitValue(BaseModel):
    """A measured value with the laboratory's lower limit of normal (complement C3, C4)."""

    model_config = _STRICT
    value: float = Field(ge=0, description="The measured value")
    lower_limit: float = Field(gt=0, description="Lower limit of normal")
    unit: str | None = Field(default=None, description="Unit, e.g. g/L")
    date: PartialDate | None = Field(default=None, description="When it was measured (in a series)")


def _series_form(v: Any) -> str:
    return "series" if isinstance(v, list | tuple) else "one"


ResultT = TypeVar("ResultT", bound=BaseModel)
# One result as a map, or a list of them, told apart by shape (one error for the form written)
Series = Annotated[
    Annotated[ResultT, Tag("one")] | Annotated[list[ResultT], Tag("series"), Field(min_length=1)],
    Discriminator(_series_form),
]


def results(value: BaseModel | list[ResultT] | None) -> list[Any]:
    """A lab written once or as a series, as a list (empty when not recorded)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class Labs(BaseModel):
    model_config = _STRICT
    # One result, or a series of dated results: a series is above the upper limit of normal when
    # any result is above its own limit (its highest, data/lab_findings.yaml enzyme_series)
    ck: Series[LabValue] | None = Field(default=None, description="Creatine kinase")
    ldh: Series[LabValue] | None = Field(default=None, description="Lactate dehydrogenase")
    ast: Series[LabValue] | None = Field(default=None, description="Aspartate aminotransferase")
    alt: Series[LabValue] | None = Field(default=None, description="Alanine aminotransferase")
    aldolase: Series[LabValue] | None = Field(default=None, description="Aldolase")
    ana_titer: AnaTitre | None = Field(
        default=None, description="ANA reciprocal titre on HEp-2 cells (160 for 1:160; 0 = negative)"
    )
    ana_titer_cutoff: AnaTitre | None = Field(
        default=None,
        description=(
            "The laboratory's ANA cut-off: the lowest titre it reports as positive, above its "
            "reference range (80 when the report says 'reference < 1:80')"
        ),
    )
    # One result, or a series of dated results: the SLE criteria count a value on any occasion
    wbc: Series[CountValue] | None = Field(default=None, description="White cell count (derives leukopenia)")
    lymphocytes: Series[CountValue] | None = Field(
        default=None, description="Lymphocytes (derive lymphopenia)"
    )
    platelets: Series[CountValue] | None = Field(
        default=None, description="Platelets (derive thrombocytopenia)"
    )
    urine_protein: Series[UrineProtein] | None = Field(
        default=None, description="Urine protein (derives proteinuria over 0.5 g/24 h)"
    )
    c3: Series[LowerLimitValue] | None = Field(
        default=None, description="C3 with its lower limit (derives c3_low)"
    )
    c4: Series[LowerLimitValue] | None = Field(
        default=None, description="C4 with its lower limit (derives c4_low)"
    )
    c3_low: Tri | None = Field(default=None, description="C3 below the laboratory range")
    c4_low: Tri | None = Field(default=None, description="C4 below the laboratory range")
    ch50_low: Tri | None = Field(
        default=None, description="CH50 (total haemolytic complement) below the laboratory range"
    )
    lupus_nephritis_class: Annotated[NephritisClass | None, BeforeValidator(_nephritis_class)] = Field(
        default=None, description="Renal biopsy ISN/RPS class (III+V and IV+V for combined classes), or none"
    )
    antibodies: Antibodies = Field(default_factory=Antibodies)

    @field_validator("ana_titer")
    @classmethod
    def _titre_is_dilution(cls, v: int | None) -> int | None:
        return None if v is None else _check_titre(v)

    @field_validator("ana_titer_cutoff")
    @classmethod
    def _cutoff_is_a_positive_dilution(cls, v: int | None) -> int | None:
        if v == 0:
            raise PydanticCustomError(
                "titre_dilution", "a cut-off is the lowest positive titre, such as 80 or 160, not 0", {}
            )
        return None if v is None else _check_titre(v)


class Muscle(BaseModel):
    model_config = _STRICT
    mri: StudyResult | None = Field(default=None, description="Muscle MRI")
    emg: StudyResult | None = Field(default=None, description="Electromyography")
    biopsy: Annotated[MuscleBiopsy | None, BeforeValidator(_biopsy_before)] = Field(
        default=None, description="'not_done' or a map of muscle biopsy features"
    )


# The case's ``patient:`` section (not the registry's patient record). No docstring: it would
# become the schema's description. The published schema keeps the name ``Patient`` (case.schema).
class CasePatient(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, title="Patient")
    sex: Literal["female", "male", "other", "unknown"] | None = None
    age_years: float | None = Field(default=None, ge=0, le=120, description="Age at this visit")


class Onset(BaseModel):
    model_config = _STRICT
    age_years: float | None = Field(
        default=None,
        ge=0,
        le=120,
        description="Age at onset of the first symptom assumed related to the disease",
    )
    skin_disease_months: float | None = Field(
        default=None, ge=0, le=1200, description="Duration of skin disease, in months"
    )
    after: list[OnsetEvent] = Field(default_factory=list, description="Events that preceded onset")


class Impression(BaseModel):
    """The clinician's own impression and differential, in their words: kept with the case for
    clinicians, never shown to researchers, never read by a rule."""

    model_config = _STRICT
    text: str | None = Field(default=None, min_length=1, max_length=4000, description="The impression")
    differential: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, description="The clinician's differential diagnosis, most likely first"
    )


class Smoking(BaseModel):
    """Smoking as clinicians record it (gives history.smoking: current or former is present)."""

    model_config = _STRICT
    status: Literal["never", "former", "current"]
    pack_years: float | None = Field(default=None, ge=0, le=300, description="Pack-years")


class CancerEntry(BaseModel):
    """A cancer in the patient's history (gives history.cancer)."""

    model_config = _STRICT
    type: str = Field(
        min_length=1, max_length=200, description="The cancer, in words (never shown to researchers)"
    )
    diagnosed: PartialDate | None = Field(default=None, description="YYYY, YYYY-MM or YYYY-MM-DD")
    active: bool | None = Field(default=None, description="true: active now; false: treated, in remission")


HrctPattern = Literal["normal", "nsip", "uip", "op", "nsip_op", "dad", "lip", "other"]


class Lung(BaseModel):
    """Lung disease as the work-up records it (gives history.ild: an abnormal HRCT pattern or a
    rapidly progressive course is interstitial lung disease; a normal HRCT is none)."""

    model_config = _STRICT
    hrct_pattern: HrctPattern | None = Field(
        default=None,
        description="normal, nsip, uip, op (organising pneumonia), nsip_op, dad (diffuse alveolar "
        "damage), lip, other",
    )
    fvc_percent_predicted: float | None = Field(default=None, gt=0, le=200)
    dlco_percent_predicted: float | None = Field(default=None, gt=0, le=200)
    rapidly_progressive: bool | None = Field(
        default=None, description="Rapidly progressive interstitial lung disease (as with anti-MDA5)"
    )


class FamilyMember(BaseModel):
    """A relative's disease: the relative's own, never counted as the patient's."""

    model_config = _STRICT
    relative: Relative = Field(description="mother, father, sister, brother, daughter, son, … other_relative")
    condition: FamilyConditionWord = Field(description="The relative's disease (ifnscope vocabulary)")
    note: str | None = Field(default=None, description="Free text (for clinicians, never for researchers)")


Route = Literal[
    "topical", "oral", "intravenous", "subcutaneous", "intramuscular", "intralesional", "inhaled", "other"
]
MedicationStatus = Literal["taking", "stopped", "held", "planned", "refused", "denied_by_payer"]
StopReason = Literal["inadequate_response", "adverse_effect", "remission", "patient_choice", "cost", "other"]
NEVER_TAKEN = ("planned", "refused", "denied_by_payer")


class Medication(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, description="Drug or class, generic or brand name")
    months_before_onset: float | None = Field(
        default=None,
        ge=-1200,
        le=1200,
        description="Months from starting the drug to disease onset (negative: started after onset)",
    )
    started: PartialDate | None = Field(default=None, description="YYYY, YYYY-MM or YYYY-MM-DD")
    stopped: PartialDate | None = Field(default=None, description="YYYY, YYYY-MM or YYYY-MM-DD")
    response: Response | None = None
    dose: str | None = None
    route: Route | None = Field(
        default=None,
        description="topical, oral, intravenous, subcutaneous, intramuscular, intralesional, inhaled or "
        "other: a topical steroid or tacrolimus is another treatment than a systemic one",
    )
    status: MedicationStatus | None = Field(
        default=None,
        description="taking, stopped, held, or never taken: planned, refused (by the patient) or "
        "denied_by_payer; left out: taken, as before",
    )
    stop_reason: StopReason | None = Field(default=None, description="Why it was stopped or held")
    note: str | None = None

    @model_validator(mode="after")
    def _never_taken_has_no_course(self) -> Medication:
        if self.status in NEVER_TAKEN and (self.stopped or self.response or self.stop_reason):
            raise PydanticCustomError(
                "medication_status",
                "a medication {status} was never taken: it has no stop date, response or stop reason",
                {"status": self.status.replace("_", " ")},
            )
        return self

    @field_validator("stopped")
    @classmethod
    def _stopped_after_started(cls, stopped: str | None, info: ValidationInfo) -> str | None:
        started = info.data.get("started")
        n = min(len(started or ""), len(stopped or ""))
        if started and stopped and stopped[:n] < started[:n]:
            raise PydanticCustomError(
                "date_order",
                "stopped ({stopped}) is before started ({started})",
                {"started": started, "stopped": stopped},
            )
        return stopped


class Lesion(BaseModel):
    """What the clinician saw, in examination-note words; findings are derived from these."""

    model_config = _STRICT
    site: Site
    morphology: Morphology
    colour: Colour | None = None
    scale: bool | None = None
    bilateral: bool | None = None
    note: str | None = None


class Case(BaseModel):
    """One patient at one assessment."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="ifnscope case (ifnscope-case/1)")

    format: Literal["ifnscope-case/1"] = Field(description="Always ifnscope-case/1")
    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: str | None = None
    source: str | None = Field(default=None, description="Where the case comes from")
    patient: CasePatient = Field(default_factory=CasePatient)
    onset: Onset = Field(default_factory=Onset)
    findings: Findings = Field(default_factory=Findings)
    lesions: list[Lesion] = Field(default_factory=list)
    labs: Labs = Field(default_factory=Labs)
    muscle: Muscle = Field(default_factory=Muscle)
    skin_biopsy: SkinBiopsy = Field(default_factory=SkinBiopsy)
    medications: list[Medication] = Field(default_factory=list)
    history: History = Field(default_factory=History)
    smoking: Smoking | None = Field(default=None, description="Smoking status and pack-years")
    cancer_history: list[CancerEntry] = Field(
        default_factory=list, description="Cancers, with type, date, activity"
    )
    lung: Lung | None = Field(
        default=None, description="HRCT pattern, pulmonary function, rapidly progressive ILD"
    )
    family_history: list[FamilyMember] = Field(
        default_factory=list,
        description="Relatives' diseases: who had what. Never counted as the patient's own; an entry "
        "not written is unknown, never 'no family history'",
    )
    cancer_screening: CancerScreening = Field(default_factory=CancerScreening)
    impression: Impression | None = Field(
        default=None, description="The clinician's impression and differential (free text, read by no rule)"
    )
    activity: Activity | None = Field(default=None, description="CDASI and CLASI scored item by item")
    expected: dict[str, Any] | None = Field(
        default=None, description="Only in test cases: what a correct assessment says"
    )

    def finding_records(self) -> dict[str, FindingRecord]:
        """Findings written in the file, each as a :class:`FindingRecord` (a bare word is its value)."""
        out: dict[str, FindingRecord] = {}
        for k in type(self.findings).model_fields:
            v = getattr(self.findings, k)
            if v is not None:
                out[k] = v if isinstance(v, FindingRecord) else FindingRecord(value=v)
        return out

    def recorded_findings(self) -> dict[str, Tri]:
        """Findings written in the file, as present/absent/unknown (uncertain is unknown: recorded
        as such, never counted; context such as resolved or attributed_to is in
        :meth:`finding_records`)."""
        return {
            k: ("unknown" if r.value == "uncertain" else r.value) for k, r in self.finding_records().items()
        }

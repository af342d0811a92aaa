"""The therapy context: what the therapy reasoning needs beyond the medication list.

:class:`TherapyContext` is the input of :func:`ifnscope.clinical.therapy.evaluate`; a caller may
build one by hand, or :func:`context_from` builds it from an assessment's criteria results (the
picture, via :mod:`ifnscope.clinical.picture`), its activity scores and the case's muscle findings;
:func:`build_context` does the same from a picture already read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ifnscope.case.model import Case, results
from ifnscope.clinical.base import Picture
from ifnscope.clinical.picture import DiseasePicture, disease_picture


class TherapyContext(BaseModel):
    """What the therapy reasoning needs beyond the medication list (built by the caller)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    picture: Picture = Field(description="The working picture: dermatomyositis, lupus or indeterminate")
    classified_as: list[str] = Field(
        default_factory=list,
        description="Classifications met, in words, e.g. 'probable IIM: amyopathic dermatomyositis'",
    )
    cdasi_activity: float | None = Field(default=None, ge=0, description="CDASI activity score, if scored")
    clasi_activity: float | None = Field(default=None, ge=0, description="CLASI activity score, if scored")
    muscle_involvement: Literal["present", "absent", "unknown"] = "unknown"


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def activity_score(activity: Any, instrument: str) -> float | None:
    """The activity score of ``cdasi`` or ``clasi`` in whatever shape ``assessment.activity`` has.

    A score marked incomplete (``activity_complete`` false: items not all scored) counts as not
    recorded, because a partial sum is only a lower bound.
    """
    inst = _get(activity, instrument)
    if isinstance(inst, bool) or _get(inst, "activity_complete") is False:
        return None
    if isinstance(inst, int | float):
        return float(inst)
    for name in ("activity", "activity_score", "total_activity", "score", "total"):
        v = _get(inst, name)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int | float):
            return float(v)
        for inner in ("score", "value", "total"):
            w = _get(v, inner)
            if isinstance(w, int | float) and not isinstance(w, bool):
                return float(w)
    return None


def muscle_involvement(case: Case) -> Literal["present", "absent", "unknown"]:
    """Present if any weakness, raised CK or abnormal MRI/EMG is recorded; absent if weakness is
    recorded absent and a muscle test (CK or MRI) is recorded normal; otherwise unknown."""
    f = case.recorded_findings()
    weakness = [
        f.get("weakness_proximal_upper"),
        f.get("weakness_proximal_lower"),
        f.get("weakness_neck_flexors_gt_extensors"),
        f.get("weakness_proximal_gt_distal_legs"),
    ]
    # a CK series: raised if any result is; normal only if every result is known to be
    above = [r.above_upper_limit for r in results(case.labs.ck)]
    ck = True if True in above else (False if above and None not in above else None)
    studies = [case.muscle.mri, case.muscle.emg]
    if "present" in weakness or ck is True or "abnormal" in studies:
        return "present"
    if "absent" in weakness and (ck is False or "normal" in studies):
        return "absent"
    return "unknown"


def build_context(case: Case, picture: DiseasePicture, activity: Any) -> TherapyContext:
    """A therapy context from the disease picture, the activity scores (``assessment.activity``
    in any shape :func:`activity_score` reads) and the case's muscle findings."""
    return TherapyContext(
        picture=picture.ladder,
        classified_as=list(picture.classified_as),
        cdasi_activity=activity_score(activity, "cdasi"),
        clasi_activity=activity_score(activity, "clasi"),
        muscle_involvement=muscle_involvement(case),
    )


def context_from(case: Case, assessment: Any) -> TherapyContext:
    """A therapy context from an :class:`ifnscope.assessment.Assessment`: the ladder follows the
    classifications alone (:func:`ifnscope.clinical.picture.disease_picture`, without the skin
    picture the assessment falls back on when they leave it indeterminate)."""
    criteria = _get(assessment, "criteria") or {}
    return build_context(case, disease_picture(criteria), getattr(assessment, "activity", None))

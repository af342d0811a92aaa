"""The therapy context: what the therapy reasoning needs beyond the medication list.

:class:`TherapyContext` is the input of :func:`ifnscope.clinical.therapy.evaluate`; a caller may
build one by hand, or :func:`context_from` builds it from an assessment's criteria results (the
picture, via :mod:`ifnscope.clinical.picture`), its activity scores and the case's muscle findings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ifnscope.case.model import Case
from ifnscope.clinical.base import Picture


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
    f = case.findings
    weakness = [
        f.weakness_proximal_upper,
        f.weakness_proximal_lower,
        f.weakness_neck_flexors_gt_extensors,
        f.weakness_proximal_gt_distal_legs,
    ]
    ck = case.labs.ck.above_upper_limit if case.labs.ck else None
    studies = [case.muscle.mri, case.muscle.emg]
    if "present" in weakness or ck is True or "abnormal" in studies:
        return "present"
    if "absent" in weakness and (ck is False or "normal" in studies):
        return "absent"
    return "unknown"


_DM_SUBGROUPS = {"dermatomyositis", "amyopathic_dermatomyositis", "juvenile_dermatomyositis"}


def context_from(case: Case, assessment: Any) -> TherapyContext:
    """A therapy context from an :class:`ifnscope.assessment.Assessment` (classification-based picture).

    Dermatomyositis when the IIM criteria classify (probable or definite) with a DM subgroup or
    Sontheimer gives a CADM category; lupus when SLE 2019 or SLICC classify or DLE 2020 reaches 5;
    indeterminate when both or neither.
    """
    crit = _get(assessment, "criteria") or {}
    classified: list[str] = []
    dm = lupus = False
    iim = crit.get("eular_acr_iim_2017")
    if iim is not None and iim.category in ("probable", "definite"):
        sub = (iim.subgroup or "").replace("_", " ")
        classified.append(f"{iim.category} IIM (score {iim.score:g})" + (f": {sub}" if sub else ""))
        dm = dm or (iim.subgroup in _DM_SUBGROUPS)
    cadm = crit.get("sontheimer_cadm")
    if cadm is not None and cadm.category in ("amyopathic", "hypomyopathic", "premyopathic"):
        classified.append(f"Sontheimer: {cadm.category}")
        dm = True
    sle = crit.get("eular_acr_sle_2019")
    if sle is not None and sle.classified:
        classified.append(f"2019 EULAR/ACR SLE (score {sle.score})")
        lupus = True
    slicc = crit.get("slicc_2012")
    if slicc is not None and slicc.classified:
        classified.append("SLICC 2012 SLE")
        lupus = True
    dle = crit.get("dle_2020")
    if dle is not None and dle.meets_5:
        classified.append(f"2020 DLE criteria (score {dle.score})")
        lupus = True
    picture: Picture = (
        "dermatomyositis" if dm and not lupus else "lupus" if lupus and not dm else "indeterminate"
    )
    activity = getattr(assessment, "activity", None)
    return TherapyContext(
        picture=picture,
        classified_as=classified,
        cdasi_activity=activity_score(activity, "cdasi"),
        clasi_activity=activity_score(activity, "clasi"),
        muscle_involvement=muscle_involvement(case),
    )

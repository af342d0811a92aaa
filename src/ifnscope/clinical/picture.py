"""The disease picture, read from the criteria results in one place for every clinical part.

Cancer and lung screening ask: is this a myositis, is it dermatomyositis, is it clinically
amyopathic? The therapy ladder asks: DM, lupus, or neither? Both answers come from
:func:`disease_picture`, so the parts cannot disagree about a case.

The rules (criteria keys as in :data:`ifnscope.criteria.CRITERIA_SETS`):

* **myositis** (is the case an IIM?): ``yes`` when the 2017 EULAR/ACR IIM criteria classify
  (probable or definite) or Sontheimer gives CADM proper (amyopathic or hypomyopathic);
  ``unknown`` when IIM is possible, or when Sontheimer is premyopathic or undetermined with a
  hallmark skin sign present (muscle, duration or an abnormal muscle test before 6 months left
  open); else ``no``. Sontheimer undetermined only because no hallmark sign is recorded says
  nothing about myositis (a lupus case records none).
* **dermatomyositis** (the IIM subtype): ``True`` for an IIM subgroup of DM (adult, amyopathic or
  juvenile) or CADM proper; ``False`` for another IIM subgroup; ``None`` when not decided.
* **clinically amyopathic**: ``True`` for CADM proper; ``False`` when Sontheimer does not apply
  (hallmark skin findings recorded absent, or clinical weakness); ``None`` when premyopathic or
  undetermined (including hallmark skin findings not recorded).
* **ladder** (the treatment ladder): ``dermatomyositis`` when IIM classifies with a DM subgroup
  or Sontheimer gives any of its three categories or a provisional ``undetermined``; ``lupus``
  when SLE 2019 or SLICC 2012 classify or DLE 2020 reaches 5 points; ``indeterminate`` when
  both or neither. A caller may pass the skin picture the differential favours, which the
  ladder then follows when the criteria leave it indeterminate.

**Premyopathic.** CADM proper is amyopathic or hypomyopathic DM after hallmark skin disease for
6 months or longer (Gerami et al., J Am Acad Dermatol 2006;54:597-613, abstract: A; source id
``gerami2006``). Before 6 months, the same picture is *premyopathic* DM: hallmark DM skin
findings without clinical or laboratory evidence of muscle disease, a provisional category to
reassess for myositis (table key, Open Rheumatol J: B; ``bentham_torj``; Sontheimer's term). A
muscle test recorded abnormal before 6 months makes Sontheimer ``undetermined`` instead (not
premyopathic, not yet hypomyopathic) and ``provisional``, which reads as premyopathic does here.
So premyopathic is DM **skin disease**:
the DM ladder applies, as for the other Sontheimer categories. It is provisional as to the
muscle, so it neither makes the case clinically amyopathic nor settles myositis (``unknown``,
``None``). It also leaves the DM subtype at ``None``, as ifnscope has always reported it; reading
the name alone (premyopathic *DM*) would make it ``True``, which would change the cancer-screening
output of premyopathic cases (the "DM subtype" risk factor and the PET-CT note), so that choice
is left to a decision with the clinical sources at hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from ifnscope.clinical.base import Picture, YesNoUnknown
from ifnscope.criteria.base import CriteriaResult
from ifnscope.criteria.cadm import CADM_CATEGORIES, PROVISIONAL, CadmResult
from ifnscope.criteria.dle_2020 import DleResult
from ifnscope.criteria.iim_2017 import DM_SUBGROUPS, OTHER_SUBGROUPS, IimResult
from ifnscope.criteria.sle_2019 import SleResult
from ifnscope.criteria.slicc_2012 import SliccResult

Myositis = YesNoUnknown

_R = TypeVar("_R", bound=CriteriaResult)


@dataclass(frozen=True)
class DiseasePicture:
    """What the criteria say about the disease, for the clinical parts (not a JSON object)."""

    myositis: Myositis
    dermatomyositis: bool | None
    clinically_amyopathic: bool | None
    ladder: Picture
    classified_as: tuple[str, ...]
    """The classifications the ladder rests on, in words (e.g. ``Sontheimer: amyopathic``)."""


def _result(criteria: Mapping[str, CriteriaResult], key: str, kind: type[_R]) -> _R | None:
    result = criteria.get(key)
    if result is None:
        return None
    if not isinstance(result, kind):
        raise TypeError(f"criteria[{key!r}] is {type(result).__name__}, expected {kind.__name__}")
    return result


def disease_picture(
    criteria: Mapping[str, CriteriaResult], *, skin_picture: Picture | None = None
) -> DiseasePicture:
    """The disease picture from the criteria results (rules in the module docstring). Pure."""
    iim = _result(criteria, "eular_acr_iim_2017", IimResult)
    cadm = _result(criteria, "sontheimer_cadm", CadmResult)
    sle = _result(criteria, "eular_acr_sle_2019", SleResult)
    slicc = _result(criteria, "slicc_2012", SliccResult)
    dle = _result(criteria, "dle_2020", DleResult)

    amyopathic: bool | None = None
    if cadm is not None and cadm.category in CADM_CATEGORIES:
        amyopathic = True
    elif cadm is not None and cadm.category == "not_applicable":
        amyopathic = False

    myositis: Myositis = "no"
    if (iim is not None and iim.met) or amyopathic:
        myositis = "yes"
    elif (iim is not None and iim.category == "possible") or (
        cadm is not None
        and cadm.category in (PROVISIONAL, "undetermined")
        and cadm.hallmark_skin_signs == "present"
    ):
        myositis = "unknown"

    subgroup = iim.subgroup if iim is not None else None
    dermatomyositis: bool | None = None
    if subgroup in DM_SUBGROUPS or amyopathic:
        dermatomyositis = True
    elif subgroup in OTHER_SUBGROUPS:
        dermatomyositis = False

    classified: list[str] = []
    dm = lupus = False
    if iim is not None and iim.met:
        sub = (iim.subgroup or "").replace("_", " ")
        classified.append(f"{iim.category} IIM (score {iim.score:g})" + (f": {sub}" if sub else ""))
        dm = iim.subgroup in DM_SUBGROUPS
    if cadm is not None and cadm.category in (*CADM_CATEGORIES, PROVISIONAL):
        classified.append(f"Sontheimer: {cadm.category}")
        dm = True
    elif cadm is not None and cadm.provisional:
        classified.append("Sontheimer: undetermined (under 6 months, muscle involvement on testing)")
        dm = True
    if sle is not None and sle.met:
        classified.append(f"2019 EULAR/ACR SLE (score {sle.score})")
        lupus = True
    if slicc is not None and slicc.met:
        classified.append("SLICC 2012 SLE")
        lupus = True
    if dle is not None and dle.met:
        classified.append(f"2020 DLE criteria (score {dle.score})")
        lupus = True
    ladder: Picture = (
        "dermatomyositis" if dm and not lupus else "lupus" if lupus and not dm else "indeterminate"
    )
    if ladder == "indeterminate" and skin_picture is not None and skin_picture != "indeterminate":
        # Not classified either way: the treatment ladder follows what the skin picture favours.
        classified.append(f"skin picture favours {skin_picture}")
        ladder = skin_picture

    return DiseasePicture(
        myositis=myositis,
        dermatomyositis=dermatomyositis,
        clinically_amyopathic=amyopathic,
        ladder=ladder,
        classified_as=tuple(classified),
    )

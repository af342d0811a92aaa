"""Classification criteria: a registry of engines with their metadata (decoupler-style).

Each engine is a pure function ``Facts -> result`` in its own module, with its rule table in
``data/criteria/``. The registry is what the CLI (``ifnscope criteria``), the assessment and
the report iterate over; adding a criteria set means adding a module and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ifnscope.case.facts import Facts
from ifnscope.criteria import cadm, dle_2020, iim_2017, sle_2019, slicc_2012
from ifnscope.criteria.base import CriteriaResult, RulesHeader

R = TypeVar("R", bound=CriteriaResult)


class CriteriaModule(Protocol):
    """What a criteria module offers: its engine and its validated rule table."""

    @property
    def evaluate_facts(self) -> Callable[[Facts], CriteriaResult]: ...

    @property
    def rules(self) -> Callable[[], RulesHeader]: ...


@dataclass(frozen=True)
class CriteriaSet(Generic[R]):
    """One criteria set: its JSON key, how to run it, and whether a result meets it.

    Its verdict in words is the presentation model's (``ifnscope.presentation``), written once
    for every output."""

    id: str
    module: CriteriaModule
    result_type: type[R]

    def evaluate(self, facts: Facts) -> CriteriaResult:
        return self.module.evaluate_facts(facts)

    def met(self, result: CriteriaResult | Mapping[str, Any]) -> bool:
        """Does a result meet the set (classified; CADM amyopathic or hypomyopathic; DLE ≥5)?

        Takes the result or its JSON form (a stored assessment), so no consumer re-derives it.
        """
        if isinstance(result, CriteriaResult):
            return result.met
        return self.result_type.met_in(result)

    @property
    def title(self) -> str:
        return self.module.rules().title

    @property
    def short(self) -> str:
        return self.module.rules().short

    def references(self) -> list[str]:
        return [ref.id for ref in self.module.rules().references]


# Heterogeneous by design: each entry is typed by its own result model.
CRITERIA_SETS: dict[str, CriteriaSet[Any]] = {
    s.id: s
    for s in (
        CriteriaSet("eular_acr_iim_2017", iim_2017, iim_2017.IimResult),
        CriteriaSet("sontheimer_cadm", cadm, cadm.CadmResult),
        CriteriaSet("eular_acr_sle_2019", sle_2019, sle_2019.SleResult),
        CriteriaSet("slicc_2012", slicc_2012, slicc_2012.SliccResult),
        CriteriaSet("dle_2020", dle_2020, dle_2020.DleResult),
    )
}


def evaluate_all(facts: Facts) -> dict[str, CriteriaResult]:
    return {key: cs.evaluate(facts) for key, cs in CRITERIA_SETS.items()}

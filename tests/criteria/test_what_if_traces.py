"""A what-if run's trace is computed from the base run's (``criteria.base._Trace``): rescanning
only the expressions the changed facts touch must give exactly what a scan of every expression
gives, for every engine and every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from ifnscope.case.facts import build_facts
from ifnscope.case.reader import validate_case
from ifnscope.criteria import CRITERIA_SETS
from ifnscope.criteria.base import WhatIf, _Trace
from ifnscope.criteria.cadm import _core as cadm_core
from ifnscope.criteria.dle_2020 import _core as dle_core
from ifnscope.criteria.iim_2017 import _core as iim_core
from ifnscope.criteria.sle_2019 import _core as sle_core
from ifnscope.criteria.slicc_2012 import _core as slicc_core
from tests.helpers import ROOT
from tests.test_properties import case_docs

ENGINES = {"iim": iim_core, "cadm": cadm_core, "sle_2019": sle_core, "slicc": slicc_core, "dle": dle_core}
CASES = sorted((ROOT / "examples").glob("*.yaml"))


def _check(doc: dict[str, Any]) -> int:
    doc = {k: v for k, v in doc.items() if k != "expected"}
    facts = build_facts(validate_case(doc))
    checked = 0
    for engine in ENGINES.values():
        wi = WhatIf(engine, facts)
        for name, trace in wi.traces.items():
            fresh = _Trace(trace.facts, trace.exprs, trace.opaque)  # no base: every expression scanned
            assert trace.occurrences() == fresh.occurrences(), name
            assert trace.tokens() == fresh.tokens(), name
            if trace.reads_as_base():
                assert trace.names() == wi.base_trace.names()
            checked += 1
    return checked


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_derived_traces_equal_full_scans_on_the_examples(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    if not (isinstance(doc, dict) and str(doc.get("format", "")).startswith("ifnscope-case")):
        pytest.skip("not a case")
    assert _check(doc) > 0  # every example leaves facts unrecorded: there are runs to check


@given(case_docs())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_derived_traces_equal_full_scans_on_random_cases(doc: dict[str, Any]) -> None:
    _check(doc)


def test_every_criteria_set_engine_is_checked() -> None:
    assert len(ENGINES) == len(CRITERIA_SETS)

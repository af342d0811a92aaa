"""Property tests (hypothesis).

1. Recording a finding as present never lowers a criteria score.
2. Any document, however malformed, gives a Case or a structured CaseError, never a crash.
3. Any valid case can be assessed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ifnscope.assessment import assess
from ifnscope.case.reader import parse_case, validate_case
from ifnscope.case.vocabulary import vocabulary
from ifnscope.errors import CaseError

V = vocabulary()
FINDINGS = sorted(V.findings)
ANTIBODIES = sorted(V.antibodies)
BIOPSY = sorted(V.muscle_biopsy)
TRI = st.sampled_from(["present", "absent", "unknown"])
TITRES = st.sampled_from([0, 40, 80, 160, 320, 640, 1280])
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def lab(draw: Any) -> dict[str, float]:
    return {"value": draw(st.floats(0, 5000)), "upper_limit": draw(st.floats(1, 500))}


@st.composite
def case_docs(draw: Any) -> dict[str, Any]:
    age = draw(st.floats(1, 95))
    onset = draw(st.floats(0, age))
    doc: dict[str, Any] = {
        "format": "ifnscope-case/1",
        "id": "p",
        "patient": {"age_years": age},
        "onset": {"age_years": onset, "skin_disease_months": draw(st.floats(0, (age - onset) * 12))},
        "findings": draw(st.dictionaries(st.sampled_from(FINDINGS), TRI, max_size=25)),
        "labs": {
            "antibodies": draw(
                st.dictionaries(
                    st.sampled_from(ANTIBODIES), st.sampled_from(["positive", "negative", "unknown"])
                )
            ),
        },
    }
    labs = doc["labs"]
    for key in ("ck", "ldh", "ast", "alt", "aldolase"):
        if draw(st.booleans()):
            labs[key] = lab(draw)
    if draw(st.booleans()):
        labs["ana_titer"] = draw(TITRES)
    for key in ("c3_low", "c4_low"):
        if draw(st.booleans()):
            labs[key] = draw(TRI)
    if draw(st.booleans()):
        labs["lupus_nephritis_class"] = draw(st.sampled_from(["II", "III", "IV", "V", "VI", "none"]))
    if draw(st.booleans()):
        doc["muscle"] = {
            "biopsy": draw(
                st.one_of(st.just("not_done"), st.dictionaries(st.sampled_from(BIOPSY), TRI, min_size=1))
            )
        }
    return consistent(doc)


def consistent(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop the lab results the reader refuses as contradictory (a positive ANA with a titre of
    0; a negative antiphospholipid panel with a positive part), keeping the positive one."""
    labs = doc["labs"]
    antibodies = labs["antibodies"]
    if antibodies.get("ana") == "positive" and labs.get("ana_titer") == 0:
        del labs["ana_titer"]
    parts = ("cardiolipin", "b2gpi", "lupus_anticoagulant")
    if antibodies.get("antiphospholipid") == "negative" and any(
        antibodies.get(k) == "positive" for k in parts
    ):
        del antibodies["antiphospholipid"]
    return doc


def scores(doc: dict[str, Any]) -> dict[str, float]:
    c = assess(validate_case(doc)).criteria
    return {
        "iim": c["eular_acr_iim_2017"].score,
        "iim_rank": ["not_met", "possible", "probable", "definite"].index(c["eular_acr_iim_2017"].category),
        "sle": c["eular_acr_sle_2019"].score,
        "slicc": c["slicc_2012"].clinical + c["slicc_2012"].immunologic,
        "dle": c["dle_2020"].score,
    }


@PROFILE
@given(doc=case_docs(), data=st.data())
def test_a_present_finding_never_lowers_a_score(doc: dict[str, Any], data: Any) -> None:
    before = scores(doc)
    after_doc = copy.deepcopy(doc)
    where = data.draw(st.sampled_from(["finding", "antibody", "complement", "biopsy"]))
    if where == "finding":
        after_doc["findings"][data.draw(st.sampled_from(FINDINGS))] = "present"
    elif where == "antibody":
        after_doc["labs"]["antibodies"][data.draw(st.sampled_from(ANTIBODIES))] = "positive"
    elif where == "complement":
        after_doc["labs"][data.draw(st.sampled_from(["c3_low", "c4_low"]))] = "present"
    else:
        biopsy = after_doc.get("muscle", {}).get("biopsy")
        if not isinstance(biopsy, dict):
            return  # adding a biopsy switches the weight column; that is not "a finding"
        biopsy[data.draw(st.sampled_from(BIOPSY))] = "present"
    after = scores(consistent(after_doc))
    for key, value in before.items():
        assert after[key] >= value, (key, value, after[key])


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(d: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, (*prefix, i))
    return out


@PROFILE
@given(doc=case_docs(), data=st.data())
def test_malformed_documents_give_structured_errors(doc: dict[str, Any], data: Any) -> None:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(_paths(doc)))
        action = data.draw(st.sampled_from(["replace", "add", "delete"]))
        if not path:
            if action == "replace":
                doc = data.draw(JSONISH)
            continue
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if action == "replace":
            parent[path[-1]] = data.draw(JSONISH)
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=10))] = data.draw(JSONISH)
        elif action == "delete" and isinstance(parent, dict):
            parent.pop(path[-1], None)
    outcome = _attempt(validate_case, doc)
    if isinstance(outcome, CaseError):
        assert outcome.code.startswith("case.")
        assert str(outcome)
        json.dumps(outcome.to_dict())  # the structured error is JSON-serialisable
        for issue in outcome.issues:
            assert issue.code.startswith("case.")
            assert issue.message
    else:
        assess(outcome)


def _attempt(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """The result of ``fn``, or the CaseError it raised; any other exception propagates."""
    try:
        return fn(*args, **kwargs)
    except CaseError as err:
        return err


@PROFILE
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_reader(text: str) -> None:
    for kind in ("yaml", "json"):
        outcome = _attempt(parse_case, text, kind=kind)
        if isinstance(outcome, CaseError):
            assert outcome.code.startswith("case.")


@PROFILE
@given(doc=case_docs())
def test_any_valid_case_can_be_assessed_and_serialised(doc: dict[str, Any]) -> None:
    out = assess(validate_case(doc)).to_json_dict()
    json.dumps(out)
    assert set(out["criteria"]) == {
        "eular_acr_iim_2017",
        "sontheimer_cadm",
        "eular_acr_sle_2019",
        "slicc_2012",
        "dle_2020",
    }

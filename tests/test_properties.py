"""Property tests (hypothesis).

1. Recording a finding as present never lowers a criteria score.
2. Any document, however malformed, gives a Case or a structured CaseError, never a crash.
3. Any valid case can be assessed.
4. The search for sets of unknowns finds exactly what trying every pair (and every set of three)
   of unrecorded facts finds, for every criteria set.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Hashable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ifnscope.assessment import assess
from ifnscope.case.facts import PRESENT, UNKNOWN, Facts, ana_titre_above_any_reference_range, build_facts
from ifnscope.case.reader import parse_case, validate_case
from ifnscope.case.vocabulary import vocabulary
from ifnscope.criteria import cadm, dle_2020, iim_2017, sle_2019, slicc_2012
from ifnscope.criteria.base import WhatIf
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
    0, or a negative one beside a titre above any laboratory's range; a negative antiphospholipid
    panel with a positive part), keeping the positive one."""
    labs = doc["labs"]
    antibodies = labs["antibodies"]
    if antibodies.get("ana") == "positive" and labs.get("ana_titer") == 0:
        del labs["ana_titer"]
    if (
        antibodies.get("ana") == "negative"
        and "ana_titer_cutoff" not in labs
        and (labs.get("ana_titer") or 0) >= ana_titre_above_any_reference_range()
    ):
        del antibodies["ana"]  # a titre above any laboratory's range is not a negative result
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


# ------------------------------------------------------- sets of unknowns against brute force

# Each engine and the key its evaluate_facts compares results by (criteria/<set>.py).
ENGINES: dict[str, tuple[Callable[..., Any], Callable[[Any], Hashable]]] = {
    "iim": (iim_2017._core, lambda c: c.category),
    "cadm": (cadm._core, lambda c: c.category),
    "sle": (sle_2019._core, lambda c: c.classified),
    "slicc": (slicc_2012._core, lambda c: c.route is not None),
    "dle": (dle_2020._core, lambda c: c.met),
}


def brute_force(
    core: Callable[..., Any], key: Callable[[Any], Hashable], facts: Facts, size: int
) -> set[frozenset[str]]:
    """Every minimal set of ``size`` unrecorded facts (no two recorded at one place) that changes
    the key, trying every combination of every unrecorded fact the base run or a single run read
    (a fact no run reads cannot change a run)."""
    wi = WhatIf(core, facts)
    base = key(wi.base)
    universe = dict.fromkeys(wi.unknowns)
    for t in wi.traces.values():
        universe.update(dict.fromkeys(n for n in t.names() if facts.value(n) == UNKNOWN))

    def changes(names: tuple[str, ...]) -> bool:
        return bool(key(core(facts.with_values(dict.fromkeys(names, PRESENT)), explain=False)) != base)

    alone = {n for n in universe if changes((n,))}
    out: set[frozenset[str]] = set()
    smaller: set[frozenset[str]] = set()
    if size == 3:
        smaller = brute_force(core, key, facts, 2)
    for combo in itertools.combinations([n for n in universe if n not in alone], size):
        if len({facts[n].record_at for n in combo}) < size:
            continue
        if any(frozenset(p) in smaller for p in itertools.combinations(combo, 2)):
            continue
        if changes(combo):
            out.add(frozenset(combo))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=case_docs(), which=st.sampled_from(sorted(ENGINES)))
def test_sets_of_unknowns_are_exactly_the_minimal_sets_brute_force_finds(
    doc: dict[str, Any], which: str
) -> None:
    """Issue 9 item 7: a set is listed only if no member (and, for three, no pair) changes the
    result alone. Against trying every combination: every pair found is one (with each
    alternative in place), and every one is found, for any case and every criteria set."""
    facts = build_facts(validate_case(doc))
    core, key = ENGINES[which]
    found = WhatIf(core, facts).sets(key, str, limit=None)
    assert found.search.complete
    by_size: dict[int, list[Any]] = {}
    for x in found.sets:
        by_size.setdefault(len(x.facts), []).append(x)

    def expand(x: Any) -> set[frozenset[str]]:
        slots = [[f, *x.alternatives.get(f, [])] for f in x.facts]
        return {
            frozenset(c) for c in itertools.product(*slots) if len({facts[n].record_at for n in c}) == len(c)
        }

    pairs = set().union(*(expand(x) for x in by_size.get(2, [])))
    assert pairs == brute_force(core, key, facts, 2)
    if found.search.max_size == 3 and which in ("iim", "dle", "cadm"):
        truth = brute_force(core, key, facts, 3)
        listed = by_size.get(3, [])
        for x in listed:  # every triple listed, and each alternative in its place, is one
            assert frozenset(x.facts) in truth
            for i, f in enumerate(x.facts):
                for g in x.alternatives.get(f, []):
                    assert frozenset([*x.facts[:i], g, *x.facts[i + 1 :]]) in truth
        assert truth <= set().union(set(), *(expand(x) for x in listed))


def _empty_case(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": "ifnscope-case/1", "id": "empty", "patient": {"age_years": 40}}
    doc["onset"] = {"age_years": 30}
    doc.update(kw)
    return doc


def test_every_criteria_set_gets_the_sets_of_unknowns_without_code_of_its_own() -> None:
    """The search lives in criteria.base (WhatIf): each result, whatever its set, carries its sets
    under the suffix of its own single-finding key, right after ``what_if``, with the search's
    account; the assessment gathers them in ``unknown_combinations`` (docs/case-format.md)."""
    from ifnscope.criteria import CRITERIA_SETS

    out = assess(validate_case(_empty_case())).to_json_dict()
    for key, cs in CRITERIA_SETS.items():
        res = out["criteria"][key]
        sets_key = cs.result_type.unknown_sets_key()
        single = next(k for k in res if k.startswith("unknowns_that_could_change_"))
        assert sets_key == single.replace("unknowns_that_could_change_", "unknown_sets_that_could_change_")
        keys = list(res)
        assert keys[keys.index("what_if") + 1 : keys.index("what_if") + 3] == [
            sets_key,
            "unknown_sets_search",
        ]
        assert res["unknown_sets_search"]["complete"] is True
    combos = out["unknown_combinations"]
    assert any(
        set(c["facts"]) == {"heliotrope_rash", "gottron_sign"}
        and c["would_change"] == ["EULAR/ACR 2017 IIM: definite (score 7.7)"]
        for c in combos
    )
    # the SLE 2019 entry criterion with class III/IV nephritis (10 points): classified only together
    # (Aringer 2019: ANA ≥1:80 entry, ≥10 points with one clinical criterion)
    assert any(set(c["facts"]) == {"ana_at_least_1_80", "lupus_nephritis_class_iii_or_iv"} for c in combos)


def test_the_search_says_when_its_budget_stopped_it_or_the_list_is_capped(monkeypatch: Any) -> None:
    """Bounded search (issue 9 item 7): a budget of engine runs per criteria set and a cap on the
    sets listed; either is said in the result and in the report's unknowns section."""
    from ifnscope.criteria import base
    from ifnscope.presentation import from_assessment

    monkeypatch.setattr(base, "RUN_BUDGET", 5)
    out = assess(validate_case(_empty_case())).to_json_dict()
    search = out["criteria"]["eular_acr_sle_2019"]["unknown_sets_search"]
    assert (search["complete"], search["max_size"], search["tried"]) == (False, 1, 5)
    assert "stopped at its budget of 5" in search["note"]
    assert "may be incomplete" in search["note"]
    monkeypatch.setattr(base, "RUN_BUDGET", 300)
    monkeypatch.setattr(base, "MAX_LISTED", 2)
    a = assess(validate_case(_empty_case()))
    search = a.to_json_dict()["criteria"]["eular_acr_iim_2017"]["unknown_sets_search"]
    assert search["capped"] is True
    assert search["listed"] == 2 < search["found"]
    view = from_assessment(a)
    assert any(
        f"EULAR/ACR 2017 IIM: 2 of {search['found']} sets listed" in n for n in view.unknown_sets_notes
    )


def test_an_engine_asking_for_a_name_that_is_not_a_fact_is_traced_safely() -> None:
    """The what-if traces what an engine reads; ``"x" in facts`` for a name that is no fact (a
    Mapping lookup that fails) is not a read, and iterating the facts makes every unrecorded fact
    a candidate (nothing is pruned that the engine might have used)."""
    facts = build_facts(validate_case(_empty_case()))

    def engine(f: Facts, explain: bool = True) -> tuple[bool, int]:
        assert "no_such_fact" not in f
        named = sum(1 for n in f if n.startswith("gottron"))  # iterates: the trace is opaque
        both = f.value("gottron_sign") == PRESENT and f.value("heliotrope_rash") == PRESENT
        return both, named

    found = WhatIf(engine, facts).sets(lambda r: r[0], str, limit=None)
    assert [sorted(x.facts) for x in found.sets] == [["gottron_sign", "heliotrope_rash"]]

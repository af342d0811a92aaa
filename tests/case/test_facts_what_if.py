"""Facts.with_values builds the what-if facts by hand (speed): it must equal dataclasses.replace."""

from __future__ import annotations

import dataclasses

import yaml

from ifnscope.case.facts import PRESENT, UNKNOWN, build_facts
from ifnscope.case.reader import validate_case
from tests.helpers import ROOT


def test_what_if_facts_keep_every_other_field_of_the_fact() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "seed-cadm.yaml").read_text())
    doc.pop("expected", None)
    facts = build_facts(validate_case(doc))
    unknown = [n for n in facts if facts.value(n) == UNKNOWN][:5]
    with_lesions = [n for n in facts if facts[n].lesions][:2]
    names = unknown + with_lesions
    assert unknown
    assert with_lesions  # the seed case's lesions make derived facts with lesion indices
    changed = facts.with_values(dict.fromkeys(names, PRESENT))
    for n in names:
        expected = dataclasses.replace(facts[n], value=PRESENT, origin="what_if", detail="what if")
        assert changed[n] == expected
    assert all(changed[n] is facts[n] for n in facts if n not in names)
    assert facts.value(unknown[0]) == UNKNOWN  # the original is untouched

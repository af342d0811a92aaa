"""The CDASI and CLASI item forms of the case form (``_activity_grid.html``, parsed by
``ifnscope.web.forms``): the grid is generated from the rule tables, the scores typed into it
give the same case ``activity`` section and the same totals as the case file, a blank grid
scores nothing, a partly filled one gives the engine's ranges, and bad values are refused
beside their field.
"""

from __future__ import annotations

import copy
import html as html_lib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from ifnscope.activity import evaluate as evaluate_activity
from ifnscope.activity.rules import cdasi_rules, clasi_rules
from ifnscope.case.reader import validate_case
from ifnscope.registry import services
from ifnscope.registry.auth import actor_for, insert_user
from ifnscope.registry.models import User
from ifnscope.web import Settings, create_app
from ifnscope.web.forms import activity_grid, case_from_form, field_for, field_label
from tests.helpers import ROOT
from tests.web.test_pages import PASSWORD, Browser

EXAMPLE = ROOT / "examples" / "activity-cdasi-clasi.yaml"

# The CLASI section of docs/activity.md's example, with the 12-month flag (the example case
# file carries CDASI only).
CLASI = {
    "areas": {
        "scalp": {"erythema": 1, "scale": 0, "dyspigmentation": 1},
        "ears": {"erythema": 2, "scale": 1, "dyspigmentation": 0, "scarring": 1},
        "nose_malar": {"erythema": 3, "scale": 2, "dyspigmentation": 1, "scarring": 2},
    },
    "mucous_membrane": 0,
    "recent_hair_loss": 1,
    "nonscarring_alopecia": 2,
    "scalp_scarring": 3,
    "dyspigmentation_12_months": True,
}


def example_doc() -> dict[str, Any]:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc.pop("expected", None)
    return doc


def form_from_activity(activity: dict[str, Any]) -> dict[str, str]:
    """What a clinician chooses in the grid for an ``activity`` section: one field per score,
    named by its key path; the flag as yes / no."""
    form: dict[str, str] = {}

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, str(k)])
        elif isinstance(node, bool):
            form[".".join(path)] = "yes" if node else "no"
        else:
            form[".".join(path)] = str(node)

    walk(activity, ["activity"])
    return form


# ---------------------------------------------------------------------------- pure functions


def test_the_grid_is_generated_from_the_rule_tables() -> None:
    grids = {g["key"]: g for g in activity_grid()}
    for key, rules in (("cdasi", cdasi_rules()), ("clasi", clasi_rules())):
        g = grids[key]
        assert [r["area"].key for r in g["rows"]] == [a.key for a in rules.areas.rows]
        names = []
        for row in g["rows"]:
            for item in rules.area_items:
                c = row["cells"][item.key]
                if c["name"] is None:  # CLASI scalp scarring: scored once instead
                    assert item.key in row["area"].not_scored
                    continue
                names.append(c["name"])
                assert [v for v, _ in c["options"]] == list(range(item.min, item.max + 1))
        names += [c["name"] for grp in g["groups"] for c in grp["cells"]]
        names += [c["name"] for c in g["singles"]]
        assert names == [".".join(("activity", key, *p)) for p, _ in rules.entries()]
        # CLASI scalp scarring offers only the values on the form
        for c in g["singles"]:
            assert [v for v, _ in c["options"]] == c["item"].allowed
    # the CLASI erythema anchors (sourced) are shown with the scores
    scalp = grids["clasi"]["rows"][0]["cells"]["erythema"]
    assert (1, "1 · light pink") in scalp["options"]
    assert grids["clasi"]["flag"]["name"] == "activity.clasi.dyspigmentation_12_months"
    assert grids["cdasi"]["flag"] is None


def test_form_gives_the_same_activity_section_and_totals_as_the_case_file() -> None:
    yaml_doc = example_doc()
    yaml_doc["activity"]["clasi"] = copy.deepcopy(CLASI)
    from_file = validate_case(yaml_doc)

    form = form_from_activity(yaml_doc["activity"])
    form["patient.sex"] = "female"
    doc = case_from_form(form, case_id=yaml_doc["id"])
    assert doc["activity"]["cdasi"]["areas"]["scalp"] == {
        "erythema": 2,
        "scale": 1,
        "erosion": 1,
        "poikiloderma": 0,
        "calcinosis": 0,
    }
    from_form = validate_case(doc)
    assert from_form.activity is not None
    assert from_file.activity is not None
    assert from_form.activity.model_dump() == from_file.activity.model_dump()

    a, b = evaluate_activity(from_form), evaluate_activity(from_file)  # 36: added up by hand
    assert a is not None
    assert b is not None
    assert a.cdasi is not None
    assert a.clasi is not None
    assert a.model_dump() == b.model_dump()
    assert (a.cdasi.activity, a.cdasi.damage, a.cdasi.complete) == (36, 2, True)
    assert a.clasi.dyspigmentation_doubled is True
    assert a.change is not None  # the earlier visit's totals came through the form too


def test_blank_grid_scores_nothing() -> None:
    blank = {c: "" for g in activity_grid() for c in g["fields"]}
    blank.update({"activity.baseline.date": "", "activity.baseline.cdasi_activity": ""})
    doc = case_from_form({**blank, "findings.gottron_papules": "present"})
    assert "activity" not in doc
    assert evaluate_activity(validate_case(doc)) is None


def test_partly_filled_grid_gives_the_engines_ranges() -> None:
    form = {
        "activity.cdasi.areas.scalp.erythema": "2",
        "activity.cdasi.areas.scalp.scale": "",
        "activity.cdasi.areas.malar.erythema": "0",
        "activity.cdasi.periungual": "1",
    }
    doc = case_from_form(form)
    assert doc["activity"] == {
        "cdasi": {"areas": {"scalp": {"erythema": 2}, "malar": {"erythema": 0}}, "periungual": 1}
    }
    result = evaluate_activity(validate_case(doc))
    assert result is not None
    assert result.cdasi is not None
    assert result.clasi is None
    c = result.cdasi
    assert c.activity == 3
    assert not c.complete
    assert c.activity_range == (3, 100 - (3 - 2) - (3 - 0) - (2 - 1))  # the rest could still score
    assert c.band is None
    assert set(c.band_if_complete_could_be) == {"mild", "moderate_severe"}
    # the same partial section written as YAML scores the same
    same = validate_case({"format": doc["format"], "id": doc["id"], "activity": doc["activity"]})
    other = evaluate_activity(same)
    assert other is not None
    assert other.cdasi is not None
    assert other.cdasi.model_dump() == c.model_dump()


def test_issue_paths_map_back_to_grid_fields() -> None:
    form = {"activity.cdasi.areas.scalp.erythema": "7"}
    loc = ("activity", "cdasi", "areas", "scalp", "erythema")
    assert field_for(loc, form) == "activity.cdasi.areas.scalp.erythema"
    assert field_label("activity.cdasi.areas.scalp.erythema") == "CDASI, Scalp: Erythema"
    assert field_label("activity.clasi.scalp_scarring") == "CLASI: Scarring of the scalp"
    assert field_label("activity.cdasi.gottron_hands.papules").startswith("CDASI: Gottron's papules")
    assert field_label("activity.clasi.dyspigmentation_12_months").startswith("CLASI: Dyspigmentation")


# ------------------------------------------------------------------------ through the web app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    db = tmp_path_factory.mktemp("grid") / "registry.sqlite3"
    application = create_app(Settings(database_url=f"sqlite:///{db}"))
    with application.state.registry.transaction() as s:
        insert_user(s, "doc", PASSWORD, "clinician")
    yield application
    application.state.registry.engine.dispose()


@pytest.fixture(scope="module")
def patient(doc: Browser) -> int:
    r = doc.post("/patients/new", {"name": "Gridda Testwoman", "birth_date": "1995-03-04", "sex": "female"})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _stored(app: FastAPI, visit_url: str) -> Any:
    visit_id = int(visit_url.rsplit("/", 1)[1])
    with app.state.registry.transaction() as s:
        user = s.query(User).filter_by(username="doc").one()
        return services.get_visit(s, actor_for(user, "cli"), visit_id)


def _field_errors(page: str) -> dict[str, str]:
    """Each field's problem: the ``err-<field>`` paragraph beside it."""
    return {
        m.group(1): html_lib.unescape(re.sub(r"<[^>]+>", "", m.group(2))).strip()
        for m in re.finditer(r'<p class="field-error" id="err-([^"]+)">(.*?)</p>', page, re.S)
    }


def test_the_page_offers_every_item_with_its_range(doc: Browser, patient: int) -> None:
    page = doc.get(f"/patients/{patient}/visits/new").text
    assert '<script src="/static/activity.js" defer></script>' in page
    assert "<script>" not in page
    assert "onclick" not in page.lower()
    for g in activity_grid():
        for name in g["fields"]:
            assert f'name="{name}"' in page, name
    erythema = re.search(r'<select id="f-activity\.cdasi\.areas\.scalp\.erythema".*?</select>', page, re.S)
    assert erythema is not None
    values = re.findall(r'<option value="([^"]*)"', erythema.group(0))
    assert values == ["", "0", "1", "2", "3"]
    assert cdasi_rules().bands.rule in html_lib.unescape(page)
    assert clasi_rules().bands.rule in html_lib.unescape(page)
    assert doc.get("/static/activity.js").status_code == 200
    assert doc.get("/static/activity.css").status_code == 200


def test_saved_visit_equals_the_yaml_path(app: FastAPI, doc: Browser, patient: int) -> None:
    yaml_doc = example_doc()
    form = form_from_activity(yaml_doc["activity"])
    form.update({"visit_date": "2024-06-01", "patient.sex": "female"})
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 303, _field_errors(r.text)
    stored = _stored(app, r.headers["location"])
    expected = validate_case(yaml_doc).activity
    assert expected is not None
    assert stored.case["activity"] == expected.model_dump(mode="json", exclude_none=True)
    cdasi = stored.assessment["activity"]["cdasi"]
    assert (cdasi["activity"], cdasi["damage"], cdasi["complete"]) == (36, 2, True)
    assert stored.cdasi_activity == 36
    page = doc.get(r.headers["location"]).text
    assert "CDASI: activity 36 of 100" in html_lib.unescape(page)


def test_blank_grid_saves_no_score(app: FastAPI, doc: Browser, patient: int) -> None:
    form = {c: "" for g in activity_grid() for c in g["fields"]}
    form.update({"visit_date": "2024-06-02", "findings.gottron_papules": "present"})
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 303, _field_errors(r.text)
    stored = _stored(app, r.headers["location"])
    assert "activity" not in stored.case
    assert stored.assessment.get("activity") is None
    assert stored.cdasi_activity is None
    assert stored.clasi_activity is None


def test_partly_filled_grid_is_saved_as_a_range(app: FastAPI, doc: Browser, patient: int) -> None:
    form = {
        "visit_date": "2024-06-03",
        "activity.clasi.areas.ears.erythema": "2",
        "activity.clasi.areas.ears.dyspigmentation": "1",
    }
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 303, _field_errors(r.text)
    stored = _stored(app, r.headers["location"])
    clasi = stored.assessment["activity"]["clasi"]
    assert clasi["activity"] == 2
    assert clasi["complete"] is False
    assert clasi["activity_range"] == [2, 70 - 3 + 2]
    assert clasi["damage_range"][0] == 1  # doubled only if the 12-month flag says so: unknown
    assert clasi["damage_range"][1] == 56 - 2 * 1 + 2  # ears' dyspigmentation 1, could be doubled
    assert stored.clasi_activity is None  # a total is listed only when every item was scored


@pytest.mark.parametrize(
    ("field", "typed", "words"),
    [
        ("activity.cdasi.areas.scalp.erythema", "7", "3"),
        ("activity.cdasi.areas.scalp.erythema", "two", "whole number"),
        ("activity.cdasi.periungual", "1.5", "whole number"),
        ("activity.clasi.scalp_scarring", "1", "0, 3, 4, 5 or 6"),
        ("activity.clasi.dyspigmentation_12_months", "maybe", ""),
        ("activity.baseline.cdasi_activity", "101", "100"),
    ],
)
def test_bad_values_are_refused_beside_their_field(
    doc: Browser, patient: int, field: str, typed: str, words: str
) -> None:
    form = {"visit_date": "2024-06-04", "activity.cdasi.areas.malar.erythema": "1", field: typed}
    r = doc.post(f"/patients/{patient}/visits/new", form)
    assert r.status_code == 422
    errors = _field_errors(r.text)
    assert field in errors, (errors, re.findall(r"<li>.*?</li>", r.text)[:5])
    assert words in errors[field]
    assert f'href="#f-{field}"' in r.text  # the summary links to the field
    assert re.search(rf'<select id="f-{re.escape(field)}"|<input id="f-{re.escape(field)}"', r.text)
    # what was chosen is kept
    assert re.search(
        r'<select id="f-activity\.cdasi\.areas\.malar\.erythema".*?<option value="1" selected>', r.text, re.S
    )

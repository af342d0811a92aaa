"""The command line: reports, JSON, folders with bad files, exit codes, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from ifnscope import cli
from tests.helpers import CASES, needs_shared_cases

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed-cadm.yaml"


def ifnscope(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ifnscope", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_assess_prints_a_readable_report() -> None:
    r = ifnscope("assess", str(SEED))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Probable IIM, score 6.5" in out
    assert "amyopathic dermatomyositis" in out
    assert "Gottron's sign" in out
    assert "definite (score 9.8)" in out
    assert "heliotrope rash from lesion 1" in out
    assert "Decision support, not a diagnosis" in out
    assert "Lundberg IE" in out  # sources are printed


def test_assess_json_has_the_contract_keys() -> None:
    r = ifnscope("assess", str(SEED), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["case_id"] == "seed-cadm"
    assert d["derived_findings"]["heliotrope_rash"] == "present"
    iim = d["criteria"]["eular_acr_iim_2017"]
    for key in (
        "biopsy",
        "score",
        "probability",
        "category",
        "subgroup",
        "unknowns_that_could_change_category",
    ):
        assert key in iim
    assert {"entry_criterion_met", "score", "classified"} <= set(d["criteria"]["eular_acr_sle_2019"])
    assert {"clinical", "immunologic", "classified"} <= set(d["criteria"]["slicc_2012"])
    assert d["criteria"]["sontheimer_cadm"]["category"] == "amyopathic"
    assert {"score", "meets_5", "meets_7"} <= set(d["criteria"]["dle_2020"])
    # every number carries its citation in the same object
    assert iim["references"]
    assert all(i["reference"]["citation"] for i in iim["items"])


def test_folder_with_a_bad_file_assesses_the_rest(tmp_path: Path) -> None:
    shutil.copy(SEED, tmp_path / "a-seed.yaml")
    (tmp_path / "b-bad.yaml").write_text("format: ifnscope-case/1\nid: bad\nfindings: {pruritis: present}\n")
    (tmp_path / "c-good.json").write_text(json.dumps({"format": "ifnscope-case/1", "id": "c-good"}))
    (tmp_path / "notes.txt").write_text("not a case")
    r = ifnscope("assess", str(tmp_path), "--json")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert [a["case_id"] for a in doc["assessments"]] == ["seed-cadm", "c-good"]
    assert len(doc["errors"]) == 1
    err = doc["errors"][0]
    assert err["file"].endswith("b-bad.yaml")
    assert err["issues"][0]["did_you_mean"] == "pruritus"
    assert "2 of 3 case files assessed" in r.stderr
    assert "b-bad.yaml" in r.stderr
    human = ifnscope("assess", str(tmp_path))
    assert human.returncode == 2
    assert "Probable IIM" in human.stdout
    assert "did you mean 'pruritus'" in human.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["assess", "/no/such/case.yaml"], "no such case file"),
        (["assess", "{tmp}/empty"], "no case files"),
        (["assess", "{tmp}/broken.yaml"], "not valid YAML"),
        (["assess", "{tmp}/broken.yaml", "--json"], "not valid YAML"),
    ],
)
def test_bad_input_exits_2_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.yaml").write_text("format: ifnscope-case/1\nid: [unclosed\n")
    r = ifnscope(*[a.format(tmp=tmp_path) for a in args])
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    if "--json" in args:
        assert json.loads(r.stdout)["error"]["code"] == "case.parse"


def test_internal_errors_are_not_shown_as_tracebacks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("ifnscope.assessment.assess", boom)
    monkeypatch.setattr(sys, "argv", ["ifnscope", "assess", str(SEED)])
    monkeypatch.delenv("IFNSCOPE_DEBUG", raising=False)
    monkeypatch.setenv("IFNSCOPE_NO_FAST_EXIT", "1")  # in-process: exit normally, not os._exit
    with pytest.raises(SystemExit) as ei:
        cli.run()
    assert ei.value.code == 1
    err = capsys.readouterr().err
    assert "internal error" in err
    assert "Traceback" not in err


def test_schema_command_publishes_a_valid_schema(tmp_path: Path) -> None:
    r = ifnscope("schema")
    assert r.returncode == 0
    schema = json.loads(r.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = yaml.safe_load(SEED.read_text())
    assert list(validator.iter_errors(json.loads(json.dumps(good, default=str)))) == []
    bad = {**good, "findings": {"pruritis": "present"}}
    assert list(validator.iter_errors(bad))
    # every example, the issue 12 keys included (examples/as-reported-sle.yaml), validates and assesses
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        doc = json.loads(json.dumps(yaml.safe_load(example.read_text()), default=str))
        assert list(validator.iter_errors(doc)) == [], example.name
        assert ifnscope("assess", str(example), "--json").returncode == 0, example.name
    typo = {**good, "findings": {"oral_ulcers": {"value": "present", "atributed_to": "herpes"}}}
    assert list(validator.iter_errors(typo))
    assert validator.is_valid(
        {
            "format": "ifnscope-case/1",
            "id": "x",
            "muscle": {"biopsy": "not_done"},
            "labs": {"ana_titer": "1:160"},
        }
    )
    out = tmp_path / "s.json"
    assert ifnscope("schema", "-o", str(out)).returncode == 0
    assert json.loads(out.read_text()) == schema


@needs_shared_cases
def test_every_shared_case_validates_against_the_published_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(ifnscope("schema").stdout))
    for path in sorted(CASES.glob("*.yaml")):
        doc = json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))
        assert list(validator.iter_errors(doc)) == [], path.name


def test_criteria_vocabulary_and_version_commands() -> None:
    r = ifnscope("criteria")
    assert r.returncode == 0
    assert "eular_acr_iim_2017" in r.stdout
    assert "Aringer" in r.stdout
    r = ifnscope("vocabulary")
    assert r.returncode == 0
    assert "gottron_sign" in r.stdout
    r = ifnscope("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("ifnscope ")


def test_every_command_is_registered_in_help_order() -> None:
    """The commands live in cli/<domain>.py and are registered in cli/__init__.py: none forgotten."""
    import typer.main

    group = typer.main.get_command(cli.app)
    assert list(group.commands) == [  # type: ignore[attr-defined]
        "assess",
        "schema",
        "criteria",
        "vocabulary",
        "report",
        "letter",
        "compare",
        "drugs",
        "therapies",
        "signatures",
        "score",
        "serve",
        "reference",
        "fhir",
        "admin",
    ]
    sub = {name: list(group.commands[name].commands) for name in ("reference", "fhir", "admin")}  # type: ignore[attr-defined]
    assert sub == {
        "reference": ["fit"],
        "fhir": ["import", "export"],
        "admin": [
            "create-user",
            "create-token",
            "migrate",
            "reconcile-treatments",
            "users",
            "deactivate",
            "activate",
            "set-role",
            "set-password",
        ],
    }

"""`pip install ifnscope` without extras: the core works, and each extra is asked for by name.

The extras' packages are installed in the test environment, so each run here is a subprocess
whose ``sitecustomize`` (a temporary folder put first on PYTHONPATH) installs an import blocker:
a ``sys.meta_path`` finder that refuses the blocked top-level modules as if they were absent.
Every test first proves that the blocker blocks, so a blocker that stops working fails the
tests instead of passing them vacuously.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sigdata import make_counts, write_tsv_genes_in_rows

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "seed-cadm.yaml"

# Every top-level module the extras bring (pyproject.toml: web, pdf, postgres, parquet).
EXTRAS_MODULES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "argon2",
    "itsdangerous",
    "multipart",
    "python_multipart",
    "weasyprint",
    "psycopg",
    "pyarrow",
    "platformdirs",
    "pydantic_settings",
)

SITECUSTOMIZE = '''\
"""Test-only import blocker: the modules named in IFNSCOPE_TEST_BLOCK behave as not installed."""
import os
import sys

_BLOCKED = frozenset(filter(None, os.environ.get("IFNSCOPE_TEST_BLOCK", "").split(",")))


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


if _BLOCKED:
    sys.meta_path.insert(0, _Blocker())
'''

PROBE = """
import importlib, json, sys
modules = sys.argv[1].split(",")
out = {}
for name in modules:
    try:
        importlib.import_module(name)
        out[name] = "imported"
    except ImportError:
        out[name] = "blocked"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def blocker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the blocking ``sitecustomize.py``."""
    folder = tmp_path_factory.mktemp("blocker")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return folder


def run(
    blocker: Path, *args: str, blocked: tuple[str, ...] = EXTRAS_MODULES, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python *args`` with ``blocked`` refused; the worktree's sources first on the path."""
    env = dict(os.environ)
    path = [str(blocker), str(ROOT / "src")]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["IFNSCOPE_TEST_BLOCK"] = ",".join(blocked)
    for var in ("IFNSCOPE_DEBUG", "IFNSCOPE_DATABASE_URL"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


def ifnscope(
    blocker: Path, *args: str, blocked: tuple[str, ...] = EXTRAS_MODULES, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run(blocker, "-m", "ifnscope", *args, blocked=blocked, cwd=cwd)


@pytest.fixture(scope="module")
def core(blocker: Path) -> Path:
    """The blocker, once it has been seen to block every extra's module (else every test fails)."""
    r = run(blocker, "-c", PROBE, ",".join(EXTRAS_MODULES))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == dict.fromkeys(EXTRAS_MODULES, "blocked")
    return blocker


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    counts, genes, names, _ = make_counts()
    p = tmp_path_factory.mktemp("core") / "bulk.tsv"
    write_tsv_genes_in_rows(p, counts, genes, names)
    return p


def test_the_blocker_blocks_and_only_when_asked(blocker: Path) -> None:
    r = run(blocker, "-c", PROBE, "fastapi,weasyprint,pyarrow,yaml")
    assert json.loads(r.stdout) == {
        "fastapi": "blocked",
        "weasyprint": "blocked",
        "pyarrow": "blocked",
        "yaml": "imported",  # the core's own dependencies are untouched
    }
    # without the list the blocker is inert, so what it blocks above is its doing
    r = run(blocker, "-c", PROBE, "fastapi", blocked=())
    assert json.loads(r.stdout) == {"fastapi": "imported"}


def test_the_library_core_imports_and_assesses(core: Path) -> None:
    script = (
        "import sys, ifnscope\n"
        "from ifnscope import load_case, assess\n"
        f"a = assess(load_case({str(SEED)!r}))\n"
        "print(a.criteria['eular_acr_iim_2017'].category)\n"
        "print(a.to_json_dict()['case_id'])\n"
    )
    r = run(core, "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["probable", "seed-cadm"]


def test_assess_json(core: Path) -> None:
    r = ifnscope(core, "assess", str(SEED), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["criteria"]["sontheimer_cadm"]["category"] == "amyopathic"


def test_html_report(core: Path, tmp_path: Path) -> None:
    r = ifnscope(core, "report", str(SEED), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "seed-cadm.report.html").read_text(encoding="utf-8")
    assert "seed-cadm" in html
    assert "</html>" in html


def test_score_to_stdout(core: Path, matrix: Path) -> None:
    r = ifnscope(core, "score", str(matrix), "-s", "rice6", "--controls", "^ctrl")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "sample\tsignature\tmethod\tscore\tcall\tgenes_found\tgenes_total"
    assert len(lines) == 1 + 24


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["serve"], "web"),
        (["admin", "users"], "web"),
        (["admin", "migrate"], "web"),
        (["report", "{seed}", "--pdf"], "pdf"),
        (["report", "{seed}", "-o", "{tmp}/r.pdf"], "pdf"),
        (["score", "{matrix}", "-s", "rice6", "--controls", "^ctrl", "-o", "{tmp}/s.parquet"], "parquet"),
    ],
    ids=["serve", "admin-users", "admin-migrate", "report-pdf", "report-to-pdf", "score-to-parquet"],
)
def test_a_missing_extra_is_named_with_exit_2(
    core: Path, matrix: Path, tmp_path: Path, args: list[str], extra: str
) -> None:
    argv = [a.format(seed=SEED, matrix=matrix, tmp=tmp_path) for a in args]
    r = ifnscope(core, *argv, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"pip install 'ifnscope[{extra}]'" in r.stderr
    assert "[install.missing-extra]" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert list(tmp_path.iterdir()) == []  # checked before any work: nothing written


# The web extra's packages (pyproject.toml), written here independently of the CLI's own list so a
# package the CLI forgets to check fails this test. python-multipart is left out: FastAPI checks it.
WEB_EXTRA = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "argon2",
    "itsdangerous",
    "platformdirs",
    "pydantic_settings",
)


@pytest.mark.parametrize("module", WEB_EXTRA)
def test_each_web_module_missing_alone_names_the_web_extra(
    blocker: Path, tmp_path: Path, module: str
) -> None:
    """Any one of the web extra's packages missing (a partial install) is named, never a traceback."""
    r = ifnscope(blocker, "admin", "users", "--database-url", f"sqlite:///{tmp_path}/r.db", blocked=(module,))
    assert r.returncode == 2, r.stderr
    assert "pip install 'ifnscope[web]'" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_postgres_url_without_the_driver(blocker: Path) -> None:
    """The web extra installed, the postgres one not: a psycopg URL names ``ifnscope[postgres]``."""
    r = run(blocker, "-c", PROBE, "psycopg,sqlalchemy", blocked=("psycopg",))
    assert json.loads(r.stdout) == {"psycopg": "blocked", "sqlalchemy": "imported"}
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    for args in (["admin", "users", "--database-url", url], ["serve", "--database-url", url]):
        r = ifnscope(blocker, *args, blocked=("psycopg",))
        assert r.returncode == 2, r.stderr
        assert "pip install 'ifnscope[postgres]'" in r.stderr
        assert "Traceback" not in r.stderr + r.stdout


def test_the_library_names_the_extra_too(core: Path, matrix: Path, tmp_path: Path) -> None:
    """Called from Python, the lazy imports of the PDF and Parquet writers raise MissingExtraError."""
    script = (
        "from ifnscope.errors import MissingExtraError\n"
        "from ifnscope.report.html import render_pdf\n"
        "from ifnscope import signatures as sig\n"
        "from ifnscope.signatures.output import write_scores\n"
        "try:\n"
        "    render_pdf('<p>x</p>')\n"
        "except MissingExtraError as e:\n"
        "    print(e.code, e.message)\n"
        f"run = sig.score({str(matrix)!r}, 'rice6', controls='^ctrl')\n"
        "try:\n"
        f"    write_scores(run, {str(tmp_path / 's.parquet')!r})\n"
        "except MissingExtraError as e:\n"
        "    print(e.code, e.message)\n"
    )
    r = run(core, "-c", script)
    assert r.returncode == 0, r.stderr
    pdf, parquet = r.stdout.splitlines()
    assert pdf.startswith("install.missing-extra ")
    assert "pip install 'ifnscope[pdf]'" in pdf
    assert parquet.startswith("install.missing-extra ")
    assert "pip install 'ifnscope[parquet]'" in parquet
    assert list(tmp_path.iterdir()) == []

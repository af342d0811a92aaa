"""The signature package's modules import each other one way (no cycles), layer by layer."""

from __future__ import annotations

import ast
from pathlib import Path

import ifnscope.signatures

PACKAGE = "ifnscope.signatures"
FOLDER = Path(ifnscope.signatures.__file__).parent

# Lowest first; a module may import only from lower layers (the package __init__ re-exports).
LAYERS = [
    {"genes", "kernels", "safety", "logbase"},
    {"catalog", "matrix", "idcols"},
    {"tenx", "geo"},
    {"readers", "extract"},
    {"adata"},
    {"methods"},
    {"apply"},
    {"reference"},
    {"scoring"},
    {"output", "plots", "aggregate"},
]


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Sibling modules imported anywhere in the file (function-level imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            out |= {a.name for a in node.names if a.name in modules} or {"__init__"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            out.add((node.module or "").split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.startswith(PACKAGE + ".")}
    return out - {path.stem}


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in FOLDER.glob("*.py")} - {"__init__"}
    assert modules == set().union(*LAYERS)


def test_imports_flow_one_way() -> None:
    modules = {p.stem for p in FOLDER.glob("*.py")}
    layer = {m: i for i, group in enumerate(LAYERS) for m in group}
    wrong = [
        f"{p.stem} imports {dep}"
        for p in sorted(FOLDER.glob("*.py"))
        if p.stem != "__init__"
        for dep in sorted(_imports(p, modules))
        if dep == "__init__" or layer[dep] >= layer[p.stem]
    ]
    assert not wrong, wrong

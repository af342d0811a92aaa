"""The clinical knowledge bases: drug triggers and therapies."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from ifnscope.cli._common import stdout_console


def drugs(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The drugs that can induce lupus or dermatomyositis: evidence, latency and the names recognised."""
    from ifnscope.clinical.drugs import all_drugs, label_of_class, members
    from ifnscope.clinical.triggers import drug_rules
    from ifnscope.provenance import Reference

    rows: list[dict[str, Any]] = []
    for a in drug_rules().associations:
        names = [a.agent.drug] if a.agent.drug else members(a.agent.class_ or "")
        brands = sorted({b for n in names for b in all_drugs()[n].brands})
        window = a.window
        rows.append(
            {
                "id": a.id,
                "agent": a.agent.drug or label_of_class(a.agent.class_ or ""),
                "generics": names,
                "brands": brands,
                "disease": a.disease,
                "presentation": a.presentation,
                "evidence": a.evidence,
                "latency": a.latency,
                "window_months": None
                if window is None
                else ("any" if window.any_duration else window.max_months),
                "source": Reference.of(a.source).citation,
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    t = Table(title="Drug-induced lupus and dermatomyositis (medication names resolve by generic or brand)")
    for col in (
        "agent",
        "disease",
        "evidence",
        "latency",
        "published latency (beyond it: timing uncertain)",
        "names",
    ):
        t.add_column(col)
    for r in rows:
        w = r["window_months"]
        within = (
            "not judged (latency unverified)"
            if w is None
            else ("any time before onset" if w == "any" else f"{w:g} months")
        )
        t.add_row(
            r["agent"],
            r["presentation"],
            r["evidence"],
            r["latency"],
            within,
            ", ".join(r["generics"] + r["brands"]),
        )
    stdout_console().print(t)


def therapies(
    as_json: Annotated[bool, typer.Option("--json", help="Print the knowledge base as JSON.")] = False,
) -> None:
    """The therapy knowledge base: target, place in the type I IFN pathway, approvals, trials."""
    from ifnscope.clinical.therapy import knowledge_base

    kb = knowledge_base()
    if as_json:
        sys.stdout.write(json.dumps(kb.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    t = Table(title="Treatments of cutaneous lupus and dermatomyositis", show_lines=True)
    for col in ("agent", "target", "IFN pathway", "approval", "key trials"):
        t.add_column(col)
    for key, ag in kb.agents.items():
        approvals = "; ".join(
            f"{x.regulator}: {x.indication}" + (f" ({x.date})" if x.date else "") for x in ag.approval
        )
        trials = "; ".join(f"{x.name}: {x.result}" for x in ag.trials[:2])
        t.add_row(
            f"{ag.label}\n[{key}]",
            ag.target,
            kb.level_label(ag.pathway.level),
            approvals or "-",
            trials or "-",
        )
    stdout_console().print(t)

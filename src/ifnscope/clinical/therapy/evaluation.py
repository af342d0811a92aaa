"""Read a case's medication list against the therapy knowledge base (pure).

* each recorded medication is resolved by :func:`ifnscope.clinical.drugs.resolve` (never guessed)
  and mapped to a knowledge-base agent; its recorded response becomes a status in plain words;
* the agents not recorded as tried are listed in the order of the published ladder for the
  patient's picture, each with its approval status for this indication, its key trial and
  eligibility notes that compare trial entry rules with this patient (CDASI-A, muscle involvement,
  failed agents);
* flags: ``no_antimalarial_tried``, ``hcq_eruption_risk_dm``, ``medication_not_recognised``.
"""

from __future__ import annotations

from ifnscope.case.model import NEVER_TAKEN, Case
from ifnscope.clinical.base import Flag
from ifnscope.clinical.drugs import resolve
from ifnscope.clinical.therapy.context import TherapyContext
from ifnscope.clinical.therapy.knowledge import (
    Agent,
    Disease,
    Eligibility,
    Trial,
    agent_classes,
    agent_for,
    approval_text,
    is_topical,
    knowledge_base,
    on_ifn_pathway,
    trial_text,
)
from ifnscope.clinical.therapy.results import (
    ApprovalCode,
    EligibilityNote,
    HistoryEntry,
    Option,
    PathwayLevelRow,
    PathwaySummary,
    Placement,
    StatusCode,
    TherapyResult,
    Unrecognised,
)
from ifnscope.provenance import Reference

_STATUS: dict[str | None, tuple[StatusCode, str]] = {
    "none": ("inadequate_response", "tried with inadequate response (no response)"),
    "inadequate": ("inadequate_response", "tried with inadequate response"),
    "partial": ("partial_response", "tried with partial response"),
    "good": ("responded", "responded"),
    "intolerant": ("intolerant", "intolerant"),
    "too_early": ("too_early", "too early to judge"),
    None: ("response_not_recorded", "response not recorded"),
}
_FAILED: set[StatusCode] = {"inadequate_response", "intolerant"}
# Recorded but never taken: not tried, so still among the options, with what the case says.
_NOT_TAKEN: dict[str, tuple[StatusCode, str]] = {
    "planned": ("planned", "planned, not yet taken"),
    "refused": ("refused", "refused by the patient, never taken"),
    "denied_by_payer": ("denied_by_payer", "denied by the payer, never taken"),
}


def diseases_of(picture: str) -> list[Disease]:
    if picture == "dermatomyositis":
        return ["dermatomyositis"]
    if picture == "lupus":
        return ["lupus"]
    return ["dermatomyositis", "lupus"]


def evaluate(case: Case, context: TherapyContext) -> TherapyResult:
    """Read the medication list against the knowledge base (pure)."""
    kb = knowledge_base()
    history, unrecognised = _history(case)
    tried = list(dict.fromkeys(h.agent for h in history if h.agent and h.taken))
    not_taken = {h.agent: h.status_text for h in history if h.agent and not h.taken}
    failed = list(dict.fromkeys(h.agent for h in history if h.agent and h.counts_as_failed))
    tried_classes = list(dict.fromkeys(c for h in history if h.taken for c in h.classes))
    class_only = {c for h in history if h.resolution.how == "class" and h.agent is None for c in h.classes}
    diseases = diseases_of(context.picture)

    options = []
    for key, agent in kb.agents.items():
        if key in tried or agent.kind == "symptomatic":
            continue
        opt = _option(key, agent, diseases, context, history, failed, class_only)
        if opt is not None:
            if key in not_taken:
                opt = opt.model_copy(update={"recorded_not_taken": f"recorded: {not_taken[key]}"})
            options.append(opt)
    order = list(kb.agents)
    options.sort(key=lambda o: (kb.position_index(o.position), order.index(o.agent)))

    pathway = _pathway(tried, failed, options)
    flags = _flags(case, context, history, unrecognised, options)
    refs: list[Reference] = []
    for o in options:
        refs += o.references
    for f in flags:
        refs += f.references
    return TherapyResult(
        case_id=case.id,
        context=context,
        history=history,
        tried=tried,
        failed=failed,
        tried_classes=tried_classes,
        unrecognised=unrecognised,
        options_not_tried=options,
        ifn_pathway=pathway,
        flags=flags,
        references=_unique(refs),
    )


def _history(case: Case) -> tuple[list[HistoryEntry], list[Unrecognised]]:
    kb = knowledge_base()
    out, unknown = [], []
    for med in case.medications:
        res = resolve(med.name, med.route)
        key = agent_for(res) if res.recognised else None
        agent = kb.agents[key] if key else None
        code, words = _STATUS.get(med.response, _STATUS[None])
        if med.status in NEVER_TAKEN:
            code, words = _NOT_TAKEN[med.status]
        out.append(
            HistoryEntry(
                recorded_as=med.name,
                resolution=res,
                read_as=res.describe(),
                agent=key,
                agent_label=agent.label if agent else None,
                classes=list(res.classes),
                response=med.response,
                started=med.started,
                stopped=med.stopped,
                dose=med.dose,
                route=med.route,
                prescription=med.status,
                stop_reason=med.stop_reason,
                status=code,
                status_text=words,
                taken=med.status not in NEVER_TAKEN,
                counts_as_failed=code in _FAILED,
                pathway_level=agent.pathway.level if agent else None,
            )
        )
        if not res.recognised:
            unknown.append(
                Unrecognised(recorded_as=med.name, suggestion=res.suggestion, message=res.describe())
            )
    return out, unknown


def _fmt(x: float) -> str:
    return f"{x:g}"


def eligibility_note(
    trial: Trial, rule: Eligibility, context: TherapyContext, failed: list[str]
) -> EligibilityNote:
    kb = knowledge_base()
    text, meets = rule.text, None
    if rule.rule in ("min_cdasi_activity", "min_clasi_activity"):
        name = "CDASI-A" if rule.rule == "min_cdasi_activity" else "CLASI-A"
        score = context.cdasi_activity if rule.rule == "min_cdasi_activity" else context.clasi_activity
        if score is None or rule.value is None:
            text += f"; {name} is not recorded for this patient"
        elif score >= rule.value:
            meets = True
            text += f"; this patient's {name} of {_fmt(score)} is at or above {_fmt(rule.value)}"
        else:
            meets = False
            text += f"; this patient's {name} of {_fmt(score)} is below {_fmt(rule.value)}"
    elif rule.rule == "min_failed_systemic":
        systemic = [a for a in failed if kb.agents[a].kind == "drug" and not is_topical(a)]
        need = rule.value or 1
        meets = len(systemic) >= need
        names = ", ".join(kb.agents[a].label.lower() for a in systemic)
        text += (
            f"; {len(systemic)} systemic agent(s) recorded as failed here ({names})"
            if systemic
            else "; no systemic agent is recorded as failed here"
        )
    elif rule.rule == "requires_failed_antimalarial":
        am = [a for a in failed if "antimalarial" in agent_classes(a)]
        meets = bool(am)
        text += (
            f"; recorded here as failed: {', '.join(am)}"
            if am
            else "; no antimalarial is recorded as failed here"
        )
    elif rule.rule == "requires_muscle_weakness":
        if context.muscle_involvement == "absent":
            meets = False
            text += "; no muscle involvement is recorded for this patient, so the trial population differs"
        elif context.muscle_involvement == "present":
            meets = True
            text += "; muscle involvement is recorded for this patient, as in the trial population"
        else:
            text += "; muscle involvement is not recorded for this patient"
    elif rule.rule == "excludes_amyopathic":
        which = [c for c in context.classified_as if "amyopathic" in c.lower()]
        if which:
            meets = False
            text += f"; this patient is classified as amyopathic ({'; '.join(which)})"
        elif context.muscle_involvement == "absent":
            meets = False
            text += "; no muscle involvement is recorded for this patient"
        elif context.muscle_involvement == "present":
            meets = True
            text += "; muscle involvement is recorded for this patient"
    return EligibilityNote(
        trial=trial.name, rule=rule.rule, text=text, meets=meets, reference=Reference.of(rule.source)
    )


def _approval_status(agent: Agent, diseases: list[Disease]) -> tuple[str, ApprovalCode]:
    kb = knowledge_base()
    if agent.kind != "drug":
        return "not applicable (not a drug)", "not_applicable"
    covers = {c for d in diseases for c in kb.diseases[d].covers}
    short = " or ".join(kb.diseases[d].short for d in diseases)
    approvals = [a for a in agent.approval if a.kind == "approval"]
    here = [a for a in approvals if set(a.covers) & covers]
    others = [a for a in approvals if not set(a.covers) & covers]
    pending = [a for a in agent.approval if a.kind in ("designation", "filing_planned")]
    if here:
        text = "; ".join(approval_text(a) for a in here)
        if "lupus" in diseases and not any({"cle", "dle"} & set(a.covers) for a in here):
            text += "; no approval for cutaneous lupus itself was found (the approvals read cover SLE)"
        code: ApprovalCode = "approved_for_indication"
    elif others:
        text = f"not approved for {short}; " + "; ".join(approval_text(a) for a in others)
        code = "approved_other_indication"
    else:
        text = f"no approval for {short} found in the sources read"
        code = "not_approved"
    if pending:
        text += "; " + "; ".join(approval_text(a) for a in pending)
    return text, code


def _option(
    key: str,
    agent: Agent,
    diseases: list[Disease],
    context: TherapyContext,
    history: list[HistoryEntry],
    failed: list[str],
    class_only: set[str],
) -> Option | None:
    kb = knowledge_base()
    placements: list[Placement] = []
    refs: list[Reference] = []
    for d in diseases:
        row = agent.ladder.get(d)
        covered = any(
            set(a.covers) & set(kb.diseases[d].covers) for a in agent.approval if a.kind == "approval"
        )
        trials = [t for t in agent.trials if t.disease == d and not t.withdrawn]
        if row is not None:
            ref = Reference.of(row.source)
            refs.append(ref)
            placements.append(
                Placement(
                    disease=d,
                    position=row.position,
                    position_label=kb.position_label(row.position),
                    note=row.note,
                    reference=ref,
                )
            )
        elif covered or trials:
            placements.append(
                Placement(disease=d, position="not_placed", position_label=kb.position_label("not_placed"))
            )
    if not placements:
        return None
    best = min(placements, key=lambda p: kb.position_index(p.position))
    in_scope = {p.disease for p in placements}
    trials = [t for t in agent.trials if t.disease in in_scope and not t.withdrawn]
    for t in trials:
        refs += [Reference.of(s) for s in t.sources]
    eligibility = [eligibility_note(t, r, context, failed) for t in trials for r in t.eligibility]
    refs += [e.reference for e in eligibility]
    cautions = []
    for c in agent.cautions:
        if not c.applies_to or set(c.applies_to) & in_scope:
            cautions.append(" ".join(c.text.split()))
            refs += [Reference.of(s) for s in c.sources]
    status, code = _approval_status(agent, [p.disease for p in placements])
    for a in agent.approval:
        refs.append(Reference.of(a.source))
        if a.date_source:
            refs.append(Reference.of(a.date_source))
    if agent.pathway.source:
        refs.append(Reference.of(agent.pathway.source))
    overlap = agent_classes(key) & class_only
    class_note = None
    if overlap:
        recorded = [h.recorded_as for h in history if set(h.classes) & overlap]
        class_note = (
            f"recorded by class name only ({', '.join(recorded)}); whether {agent.label.lower()} "
            "was among them is not recorded"
        )
    return Option(
        agent=key,
        label=agent.label,
        kind=agent.kind,
        position=best.position,
        position_label=best.position_label,
        placements=placements,
        pathway_level=agent.pathway.level,
        pathway_label=kb.level_label(agent.pathway.level),
        approval_status=status,
        approval_code=code,
        key_trial=trial_text(trials[0]) if trials else None,
        trials=[trial_text(t) for t in trials],
        eligibility=eligibility,
        eligibility_notes=[e.text for e in eligibility],
        cautions=cautions,
        class_note=class_note,
        summary=_summary(placements, status, class_note),
        references=_unique(refs),
    )


def _summary(placements: list[Placement], status: str, class_note: str | None) -> str:
    kb = knowledge_base()
    parts = ["Not recorded as tried" if class_note is None else "Not recorded as tried by name"]
    for p in placements:
        short = kb.diseases[p.disease].short
        if p.position == "not_placed":
            parts.append(
                f"not placed in a published {short} ladder read; listed for its approval or trial evidence"
            )
        elif p.position == "investigational":
            parts.append(f"investigational for {short} ({p.note})")
        elif p.position == "no_benefit_shown":
            parts.append(f"listed for completeness for {short}: {p.note}")
        else:
            parts.append(f"an option in the published ladder for {short}: {p.position_label} ({p.note})")
    parts.append(f"approval status: {status}")
    return ". ".join(s[0].upper() + s[1:] for s in parts) + "."


def _pathway(tried: list[str], failed: list[str], options: list[Option]) -> PathwaySummary:
    kb = knowledge_base()
    rows = []
    for lv in kb.pathway_levels:
        at = [a for a in tried if kb.agents[a].pathway.level == lv.key and kb.agents[a].kind != "symptomatic"]
        rows.append(
            PathwayLevelRow(
                level=lv.key,
                label=lv.label,
                tried=at,
                failed=[a for a in failed if a in at],
                options=[o.agent for o in options if o.pathway_level == lv.key],
            )
        )
    targeted = [r.level for r in rows if r.tried and on_ifn_pathway(r.level)]
    if targeted:
        parts = []
        for r in rows:
            if r.level in targeted:
                names = ", ".join(kb.agents[a].label for a in r.tried)
                note = (
                    "" if kb.agents[r.tried[0]].pathway.source else "; level per project taxonomy, unverified"
                )
                parts.append(f"{r.label} ({names}{note})")
        text = "IFN-pathway levels targeted so far: " + "; ".join(parts) + "."
    else:
        nonspec = next(r for r in rows if r.level == "not_ifn_specific").tried
        names = ", ".join(kb.agents[a].label.lower() for a in nonspec)
        text = "No level of the type I IFN pathway has been targeted so far" + (
            f": every agent recorded ({names}) is not IFN-specific." if names else "."
        )
    open_levels = [
        f"{r.label} ({', '.join(kb.agents[a].label for a in r.options)})"
        for r in rows
        if r.options and r.level not in targeted and on_ifn_pathway(r.level)
    ]
    if open_levels:
        text += " Levels with options not yet tried: " + "; ".join(open_levels) + "."
    return PathwaySummary(levels=rows, targeted=targeted, summary=text)


def _flags(
    case: Case,
    context: TherapyContext,
    history: list[HistoryEntry],
    unrecognised: list[Unrecognised],
    options: list[Option],
) -> list[Flag]:
    kb = knowledge_base()
    flags: list[Flag] = []
    if context.picture != "indeterminate":
        disease: Disease = context.picture
        if not any("antimalarial" in h.classes for h in history):
            spec = kb.flags["no_antimalarial_tried"]
            recorded = ", ".join(h.recorded_as for h in history)
            evidence = [f"medications recorded: {recorded}" if recorded else "no medications recorded"]
            evidence += [
                f"not recognised (check it is not an antimalarial): {u.recorded_as}" for u in unrecognised
            ]
            flags.append(
                Flag.make(
                    "no_antimalarial_tried",
                    spec.severity,
                    spec.message_for(disease),
                    spec.references_for(disease),
                    evidence,
                )
            )
    am_options = [o for o in options if "antimalarial" in agent_classes(o.agent)]
    if context.picture == "dermatomyositis" and am_options:
        spec = kb.flags["hcq_eruption_risk_dm"]
        evidence = [f"{o.label} is listed as an option not recorded as tried" for o in am_options[:1]]
        if case.labs.antibodies.sae == "positive" and "sae_positive" in spec.extra:
            evidence.append(" ".join(spec.extra["sae_positive"].split()))
        flags.append(
            Flag.make(
                "hcq_eruption_risk_dm",
                spec.severity,
                spec.message_for("dermatomyositis"),
                spec.references_for("dermatomyositis"),
                evidence,
            )
        )
    spec = kb.flags["medication_not_recognised"]
    for u in unrecognised:
        flags.append(
            Flag.make(
                "medication_not_recognised",
                spec.severity,
                spec.message_for("dermatomyositis"),
                [],
                [u.message],
            )
        )
    return flags


def _unique(refs: list[Reference]) -> list[Reference]:
    return list({(r.source, r.where, r.confidence): r for r in refs}.values())

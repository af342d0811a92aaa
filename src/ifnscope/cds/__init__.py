"""CDS Hooks 2.0: ifnscope inside the EHR (issue 13, item 3).

The pure parts: the services offered (``data/fhir/cds_services.yaml``), the hook request
(:class:`HookRequest`), the prefetched resources read as one patient's record, and the cards
built from the presentation model (:func:`cards`). Trust (JWT), the FHIR server reads, storage
and the HTTP endpoints live in :mod:`ifnscope.cds.trust`, :mod:`ifnscope.cds.fetch`,
``registry.services.cds`` and ``web.api.cds``.
"""

from __future__ import annotations

import re
import uuid
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ifnscope.data import load_table
from ifnscope.presentation.model import AssessmentView

SUMMARY_MAX = 139  # the specification: a summary under 140 characters


class Service(BaseModel):
    id: str
    hook: str
    title: str
    description: str
    prefetch: dict[str, str]
    required: list[str] = []

    def discovery(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
            "prefetch": self.prefetch,
        }


class _Services(BaseModel):
    services: list[Service]


@cache
def services() -> dict[str, Service]:
    """The services offered, by id."""
    return {s.id: s for s in load_table("fhir/cds_services.yaml", _Services).services}


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="allow")
    access_token: str = Field(min_length=1, max_length=10_000)
    token_type: Literal["Bearer", "bearer"]
    expires_in: int
    scope: str
    subject: str


class HookRequest(BaseModel):
    """A CDS Hooks request (the fields ifnscope reads; others are allowed)."""

    model_config = ConfigDict(extra="allow")
    hook: str = Field(min_length=1, max_length=200)
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = Field(default=None, max_length=2000)
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


def patient_id(request: HookRequest) -> str | None:
    value = request.context.get("patientId")
    return value if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", value) else None


def prefetched(request: HookRequest, service: Service) -> tuple[list[dict[str, Any]], list[str]]:
    """The prefetched resources, and the template keys the client did not satisfy (absent, or an
    OperationOutcome in place of the data). A key with a null value was satisfied: no data."""
    docs: list[dict[str, Any]] = []
    missing: list[str] = []
    given = request.prefetch or {}
    for key in service.prefetch:
        if key not in given:
            missing.append(key)
            continue
        value = given[key]
        if value is None:
            continue
        if not isinstance(value, dict) or value.get("resourceType") == "OperationOutcome":
            missing.append(key)
            continue
        docs.append(value)
    return docs, missing


def fill_template(template: str, request: HookRequest) -> str:
    """A prefetch template with its ``{{context.x}}`` tokens replaced (first-level primitives)."""

    def token(m: re.Match[str]) -> str:
        value = request.context.get(m.group(1))
        if not isinstance(value, str | int):
            raise ValueError(f"no context.{m.group(1)} for the prefetch template")
        return str(value)

    return re.sub(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}", token, template)


# ------------------------------------------------------------------------------------ cards


def _short(text: str, limit: int = SUMMARY_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;") + "…"


def _summary_of(parts: list[str], head: str) -> str:
    """``head`` and as many parts as fit under 140 characters, then "+N more" (the first part
    always, shortened if it must be)."""
    out = head
    for i, part in enumerate(parts):
        more = len(parts) - i - 1
        tail = f" (+{more} more)" if more else ""
        if i == 0:
            part = _short(part, SUMMARY_MAX - len(head) - len(tail))
        candidate = f"{out}{'; ' if i else ''}{part}"
        if len(candidate + tail) > SUMMARY_MAX:
            return _short(f"{out} (+{len(parts) - i} more)")
        out = candidate
    return _short(out)


CardKind = Literal["classification", "unknowns", "trigger", "screening"]


def cards(
    view: AssessmentView, *, source_label: str, report_url: str | None
) -> list[tuple[CardKind, dict[str, Any]]]:
    """The cards for one assessment: the classification in one line with its evidence, the
    unrecorded findings that would change it, each suspected drug trigger, missing cancer
    screening. No card when nothing in the record counts for any criterion and no trigger is
    suspected (CDS Hooks: no decision support, no cards)."""
    counted = [c for c in view.criteria if c.met or any(r.counted for r in c.rows)]
    triggers = [t for t in view.triggers.rows if t.status == "suspected"]
    if not counted and not triggers:
        return []
    source = {"label": source_label}
    links = (
        [{"label": "Open the full ifnscope report", "url": report_url, "type": "absolute"}]
        if report_url
        else []
    )
    out: list[tuple[CardKind, dict[str, Any]]] = []

    def card(kind: CardKind, summary: str, indicator: str, detail: str) -> None:
        c: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": _short(summary),
            "indicator": indicator,
            "detail": detail
            + "\n\n*Decision support, not a diagnosis: what published criteria say about the record.*",
            "source": source,
        }
        if links:
            c["links"] = links
        out.append((kind, c))

    met = [c for c in view.criteria if c.met]
    if counted:
        if met:
            summary = _summary_of([f"{c.verdict.word} ({c.short})" for c in met], "Criteria met: ")
        else:
            summary = _summary_of(
                [f"{c.short}: {c.verdict.text or c.verdict.word}" for c in counted], "No criteria set met. "
            )
        lines = []
        for c in counted:
            lines.append(f"**{c.short}**: {c.verdict.sentence}")
            lines += [
                f"- {r.label} ({r.points})" if r.points else f"- {r.label}" for r in c.rows if r.counted
            ]
        card("classification", summary, "info", "\n".join(lines))

    if counted and view.unknowns:
        labels = [u.labels for u in view.unknowns]
        summary = _summary_of(labels, "Unrecorded, could change the result: ")
        lines = [f"- {u.labels} (record at `{u.record_at}`)" for u in view.unknowns]
        card(
            "unknowns",
            summary,
            "info",
            "Findings not in the record that would change a criteria result:\n" + "\n".join(lines),
        )

    for t in triggers:
        summary = f"Possible drug trigger: {t.agent} ({t.presentation or t.disease})"
        detail = "\n".join(
            x for x in (f"**{t.agent}** ({t.recorded_as})", t.evidence, t.timing, t.latency) if x
        )
        card("trigger", summary, "warning", detail)

    s = view.screening
    if s.applies == "yes":
        missing = [f"{p.label}: {p.recorded} of {p.applicable} recorded" for p in s.panels if p.missing]
        if missing:
            summary = _summary_of(missing, "Cancer screening for adult-onset IIM: ")
            lines = [f"**{p.label}** — not recorded: {', '.join(p.missing)}" for p in s.panels if p.missing]
            card("screening", summary, "warning", (s.why + "\n\n" if s.why else "") + "\n".join(lines))
    return out

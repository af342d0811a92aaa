"""The clinician's report: one self-contained HTML document for a case, and its PDF.

A clinician should get the picture in two minutes, so the order is fixed: the header (case,
patient, disclaimer), an *at a glance* box (one line per criteria set, the CLE-vs-DM verdict,
activity, flags by severity, the few unrecorded findings that would change a result), then the
evidence section by section (criteria, differential, activity, triggers, screening, therapy,
the draft letter when asked for), the rules not verified, and the numbered sources.

The HTML has inline CSS and nothing else: no script, no font, image or stylesheet to fetch, so
the file can be mailed, archived or printed as it is. Citations keep their URLs as plain links.
Everything shown comes from the presentation model (:mod:`ifnscope.presentation`), built from
the assessment's JSON contract, so a live assessment and a visit's stored one give the same
report; this module only lays it out. The sources keep the model's numbers (order of first
citation in the body); a letter's sources not among them are numbered after them.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from ifnscope import __version__
from ifnscope.assessment import Assessment, assess
from ifnscope.case.model import Case
from ifnscope.case.reader import load_case
from ifnscope.clinical.letter import Letter, build_letter
from ifnscope.errors import ReportError, require_extra
from ifnscope.presentation import AssessmentView, as_view, capital, patient_lines
from ifnscope.provenance import CONFIDENCE_WORDS, Reference

__all__ = ["ReportError", "render_html", "render_pdf", "write_report"]

T = TypeVar("T")

_URL = re.compile(r"(https?://[^\s<>\"]*[^\s<>\".,;:)\]](?:\.\.\.)?|doi:\s?10\.[^\s<>\"]*[^\s<>\".,;:)\]])")


def _linkify(text: str) -> Markup:
    """Escape a citation and turn its URLs and DOIs into plain links."""
    out: list[Markup] = []
    for i, part in enumerate(_URL.split(text)):
        if i % 2 == 0:
            out.append(escape(part))
        elif part.startswith("doi:"):
            doi = part[4:].strip()
            out.append(Markup('<a href="https://doi.org/{}">{}</a>').format(doi, part))
        else:
            out.append(Markup('<a href="{}">{}</a>').format(part, _short_url(part)))
    return Markup("").join(out)


def _short_url(url: str) -> str:
    """A URL as printed: its host, with '/…' when there is a path (the link keeps it whole)."""
    bare = url.split("://", 1)[-1]
    host, _, path = bare.partition("/")
    host = host.removeprefix("www.")
    return f"{host}/…" if path.strip("/") else host


# -------------------------------------------------------------------------------- citations


def _cite_mark(nums: Iterable[int]) -> Markup:
    """Citation numbers as a superscript, runs compressed ([1–3,5]), each linked to its source."""
    runs: list[list[int]] = []
    for n in sorted(set(nums)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    if not runs:
        return Markup("")

    def link(n: int) -> Markup:
        return Markup('<a href="#src-{0}">{0}</a>').format(n)

    parts: list[Markup] = []
    for first, last in runs:
        if last == first:
            parts.append(link(first))
        elif last == first + 1:
            parts += [link(first), link(last)]
        else:
            parts.append(link(first) + Markup("–") + link(last))
    return Markup('<sup class="cite">[{}]</sup>').format(Markup(",").join(parts))


class _Sources:
    """The view's numbered sources, extended by the letter's (a letter may cite a source the
    assessment does not rest on; it is numbered after the others)."""

    def __init__(self, view: AssessmentView) -> None:
        self.entries: dict[str, tuple[int, str, set[str]]] = {
            s.id: (s.n, s.citation, set(s.tags.split("/")) if s.tags else set()) for s in view.references
        }

    def number(self, ref: Reference) -> int:
        entry = self.entries.get(ref.source)
        if entry is None:
            entry = self.entries[ref.source] = (len(self.entries) + 1, ref.citation, set())
        entry[2].add(ref.confidence)
        return entry[0]

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "n": n,
                "id": sid,
                "citation": _linkify(citation),
                "tags": "/".join(sorted(tags)),
                "unverified": tags == {"U"},
            }
            for sid, (n, citation, tags) in sorted(self.entries.items(), key=lambda e: e[1][0])
        ]


# ------------------------------------------------------------------------------- sections


def _letter(letter: Letter | None, src: _Sources) -> dict[str, Any] | None:
    """The draft letter as sections of paragraphs and lists. Its own references ([1], [2], … in
    its text) point to the report's numbered sources, with the places the letter read."""
    if letter is None:
        return None
    sections = []
    ref_lines: list[str] = []
    for s in letter.sections:
        if s.heading == "Status":
            continue
        if s.heading == "References":
            ref_lines = [p for p in s.paragraphs if p.startswith("[")]
            continue
        blocks: list[dict[str, Any]] = []
        for p in s.paragraphs:
            if p.startswith("- "):
                if not blocks or blocks[-1]["kind"] != "list":
                    blocks.append({"kind": "list", "entries": []})
                blocks[-1]["entries"].append(p[2:])
            else:
                blocks.append({"kind": "p", "text": p})
        sections.append({"heading": s.heading, "blocks": blocks})
    refs = []
    for i, ref in enumerate(letter.references, 1):
        head = f"[{i}] {ref.citation}"
        line = next((x for x in ref_lines if x.startswith(head)), "")
        read = line[len(head) :].lstrip(". ").removeprefix("Read: ")
        short = ref.citation if len(ref.citation) <= 70 else ref.citation[:70].rsplit(" ", 1)[0] + " …"
        refs.append({"n": i, "source": src.number(ref), "short": short, "read": read})
    return {
        "title": letter.title.removesuffix("(DRAFT)").strip(),
        "notice": letter.draft_notice,
        "sections": sections,
        "references": refs,
        "gaps": letter.gaps,
    }


def _unverified(v: AssessmentView, sources: list[dict[str, Any]]) -> dict[str, Any]:
    groups = []
    if v.screening.unverified:
        groups.append({"part": "Cancer screening (IMACS 2023)", "entries": v.screening.unverified})
    if v.activity is not None and v.activity.unverified:
        groups.append({"part": "Skin activity indices", "entries": v.activity.unverified})
    u_sources = [s["n"] for s in sources if s["unverified"]]
    links = Markup(", ").join(Markup('<a href="#src-{0}">[{0}]</a>').format(n) for n in u_sources)
    return {"groups": groups, "criteria": v.criteria_unverified, "u_sources": links}


# ------------------------------------------------------------------------------- rendering


def _halves(rows: Sequence[T]) -> list[tuple[T, T | None]]:
    """Rows in two columns: the first half on the left, the rest on the right."""
    half = (len(rows) + 1) // 2
    return [(rows[i], rows[i + half] if i + half < len(rows) else None) for i in range(half)]


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("ifnscope.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["capital"] = capital
    env.filters["cite"] = _cite_mark
    env.filters["halves"] = _halves
    return env


def render_html(
    assessment: Assessment | AssessmentView | Mapping[str, Any],
    case: Case | Mapping[str, Any] | None = None,
    *,
    letter: Letter | None = None,
    generated: dt.datetime | None = None,
) -> str:
    """The whole report as one self-contained HTML document (inline CSS, no scripts).

    ``assessment`` is a live :class:`~ifnscope.assessment.Assessment`, its JSON (the dict a
    registry visit stores: nothing is re-assessed) or its presentation model. ``case`` (the
    :class:`~ifnscope.case.model.Case` or the stored case document) gives the patient lines
    and the case source; without it they read "not recorded".
    """
    view = as_view(assessment)
    case_doc: Mapping[str, Any] = (
        case.model_dump(mode="json") if isinstance(case, Case) else case if isinstance(case, Mapping) else {}
    )
    src = _Sources(view)
    letter_view = _letter(letter, src)
    sources = src.listing()
    when = generated or dt.datetime.now().astimezone()
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            v=view,
            h=view.header,
            patient=patient_lines(case_doc),
            case_source=case_doc.get("source") or "",
            generated=when.strftime("%Y-%m-%d %H:%M"),
            version=__version__,
            letter=letter_view,
            unverified=_unverified(view, sources),
            sources=sources,
            confidence=CONFIDENCE_WORDS,
        )
    )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
    raise ValueError(f"the report is self-contained; refusing to fetch {url}")


def render_pdf(html: str) -> bytes:
    """Print the HTML report to an A4 PDF with WeasyPrint (nothing is fetched from the network)."""
    with warnings.catch_warnings():
        # an optional system library's absence, not the user's concern
        warnings.filterwarnings("ignore", message=".*HarfBuzz-Subset", category=DeprecationWarning)
        require_extra("pdf", "weasyprint")  # an install without the pdf extra: say which to add
        from weasyprint import HTML  # slow to import: only when a PDF is asked for

        pdf: bytes = HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
    return pdf


def write_report(
    case_path: str | Path,
    out_path: str | Path | None = None,
    *,
    pdf: bool = False,
    letter_agent: str | None = None,
) -> Path:
    """Load and assess a case, render the report and write it atomically; return the path written.

    ``out_path`` defaults to ``<case file stem>.report.html`` (or ``.pdf``) in the current
    directory; a ``.pdf`` suffix implies ``pdf=True``. The file is written to
    ``<name>.partial`` and renamed, so a failure never leaves a half-written report and never
    replaces an existing one. ``letter_agent`` adds the draft letter of medical necessity for
    that agent (an unknown agent is an :class:`~ifnscope.errors.IfnscopeError`).
    """
    case_file = Path(case_path)
    default = f"{case_file.stem}.report.{'pdf' if pdf else 'html'}"
    out = Path(default if out_path is None else out_path)
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        pdf = True
    elif pdf and suffix in (".html", ".htm"):
        raise ReportError(
            f"a PDF report cannot be written to {out.name}: use a .pdf name",
            code="report.format",
            file=str(out),
        )
    case = load_case(case_file)
    assessment = assess(case)
    letter = build_letter(case, assessment, letter_agent) if letter_agent else None
    html = render_html(assessment, case, letter=letter)
    data = render_pdf(html) if pdf else html.encode("utf-8")
    tmp = out.with_name(out.name + ".partial")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(
            f"could not write the report: {exc.strerror or exc}", code="report.write", file=str(out)
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out

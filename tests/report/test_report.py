"""The clinician's report: what it says, that it is self-contained and escaped, its PDF, and
that writing it is atomic."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from ifnscope.assessment import assess
from ifnscope.case.reader import load_case
from ifnscope.clinical.letter import build_letter
from ifnscope.errors import IfnscopeError
from ifnscope.report import html as report
from ifnscope.report.html import ReportError, render_html, write_report
from tests.helpers import CASES, ROOT, make_case, needs_shared_cases

SEED = CASES / "seed-cadm.yaml" if (CASES / "seed-cadm.yaml").is_file() else ROOT / "examples/seed-cadm.yaml"
ACTIVITY = ROOT / "examples/activity-cdasi-clasi.yaml"
WHEN = dt.datetime(2025, 1, 2, 3, 4, tzinfo=dt.UTC)


def text(fragment: str) -> str:
    """Visible text of an HTML fragment: inline tags dropped, block tags made spaces, entities
    decoded, spaces collapsed."""
    inline = re.sub(r"</?(?:a|b|i|em|strong|span|sup)\b[^>]*>", "", fragment)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def section(doc: str, ident: str) -> str:
    m = re.search(rf'<section[^>]*id="{ident}"[^>]*>(.*?)</section>', doc, re.S)
    assert m, f"no section {ident!r}"
    return text(m.group(1))


def render(path: Path, **kw: Any) -> str:
    case = load_case(path)
    return render_html(assess(case), case, generated=WHEN, **kw)


@pytest.fixture(scope="module")
def seed() -> tuple[Any, Any]:
    case = load_case(SEED)
    return case, assess(case)


@pytest.fixture(scope="module")
def seed_html(seed: tuple[Any, Any]) -> str:
    case, a = seed
    return render_html(a, case, generated=WHEN)


def test_header_names_the_case_patient_version_and_disclaimer(seed_html: str) -> None:
    head = text(re.search(r"<header>(.*?)</header>", seed_html, re.S).group(1))
    assert "seed-cadm" in head
    assert "29-year-old woman with a pruritic rash" in head
    assert "Patient: 29 years, female" in head
    assert "Onset: at 28.5 years; skin disease for 6 months; after viral illness" in head
    assert "generated 2025-01-02 03:04" in head
    assert f"ifnscope {report.__version__}" in head
    assert head.count("Decision support, not a diagnosis") == 1


def test_glance_gives_the_verdicts_in_words(seed_html: str) -> None:
    g = section(seed_html, "glance")
    assert "EULAR/ACR 2017 IIM probable IIM, score 6.5 (≈76%), amyopathic dermatomyositis" in g
    assert "Sontheimer CADM amyopathic" in g
    assert "EULAR/ACR 2019 SLE not classified, entry criterion not met" in g
    assert "CLE vs DM Favours dermatomyositis: heliotrope rash, Gottron's papules" in g
    assert "basic panel 0 of 7 recorded; enhanced panel 1 of 7 recorded" in g
    assert "Skin activity" not in g  # the seed case records no activity index


def test_glance_orders_flags_by_severity_and_names_what_would_change_a_result(seed_html: str) -> None:
    g = section(seed_html, "glance")
    check, info = g.index("no_antimalarial_tried"), g.index("viral_illness_before_onset")
    assert check < info
    assert "CHECK No antimalarial is recorded in the medication list." in g
    assert "INFO Onset followed a viral illness" in g
    assert "Gottron's sign → EULAR/ACR 2017 IIM: definite (score 9.8)" in g
    # the same change from several findings is one line, in short words
    assert "Lactate dehydrogenase > ULN, Aspartate aminotransferase > ULN or Alanine" in g


def test_criteria_section_shows_counted_items_points_evidence_and_unknowns(seed_html: str) -> None:
    c = section(seed_html, "criteria")
    assert "EULAR/ACR 2017 IIM: probable IIM, score 6.5" in c
    assert "Heliotrope rash[2] 3.1 counted Heliotrope rash: present (derived from lesion 1" in c
    assert "Gottron's papules[2] 2.1 counted" in c
    assert "Gottron's sign[2] 3.3 not recorded, decisive Gottron's sign: unknown" in c
    assert "Gottron's sign → definite (score 9.8) findings.gottron_sign" in c
    assert "Cut-offs: possible ≥5.3, probable ≥5.5, definite ≥7.5" in c
    assert "Not verified: Probability constants" in c
    assert "Subgroup:" in c
    assert "→ amyopathic dermatomyositis" in c
    # Sontheimer steps with their evidence; the rules it does not apply
    assert "Skin disease for 6 months or longer[5] yes skin disease for 6 months" in c
    assert "hypomyopathic" in c
    assert "Not verified: Exclusion criteria" in c
    # sets that classify nothing are one line each
    assert "DLE 2020: below 5." in c


def test_differential_section_states_the_rule_as_ifnscopes_own(seed_html: str) -> None:
    d = section(seed_html, "differential")
    assert d.startswith("Lupus or dermatomyositis? Favours dermatomyositis")
    assert "Heliotrope rash (criteria item)[2]" in d
    assert "Favours lupus: no feature recorded." in d
    assert "Not weighed (seen in both): Periungual telangiectasia" in d
    assert "Would give mixed picture (indeterminate) if any of these" in d
    assert "Test that would help: Skin biopsy" in d
    assert "Weighing rule, ifnscope's own (not a published score):" in d


def test_triggers_and_flags_in_full_in_their_sections(seed_html: str) -> None:
    t = section(seed_html, "triggers")
    assert "No recorded medication (4 checked) is a known inducer" in t
    assert "INFO viral_illness_before_onset Onset followed a viral illness" in t
    assert "From the case: onset.after: viral_illness" in t
    th = section(seed_html, "therapy")
    assert "CHECK no_antimalarial_tried No antimalarial is recorded" in th


def test_screening_section_has_the_panel_tables_and_the_category_not_computed(seed_html: str) -> None:
    s = section(seed_html, "screening")
    assert "Cancer screening applies: adult-onset IIM (28.5 years)" in s
    assert "Basic panel: every adult with IIM in scope" in s
    assert "0 of 7 recorded" in s
    assert "Enhanced panel: moderate and high risk" in s
    assert "1 of 7 recorded" in s
    assert "Mammography done: negative" in s
    assert "Complete blood count not recorded" in s
    assert "Prostate-specific antigen male only n/a" in s
    assert "Colonoscopy (done: negative)" in s
    assert "Risk category (standard, moderate or high) not computed." in s
    assert "could not be verified" in s
    assert "Interstitial lung disease is common in clinically amyopathic dermatomyositis" in s


def test_therapy_section_history_options_in_ladder_order_and_pathway(
    seed: tuple[Any, Any], seed_html: str
) -> None:
    th = section(seed_html, "therapy")
    assert "methotrexate Methotrexate tried with inadequate response not IFN-specific" in th
    labels = [o.label for o in seed[1].therapy.options_not_tried]
    positions = [th.index(f"{i}. {label}") for i, label in enumerate(labels, 1)]
    assert positions == sorted(positions)
    assert "approved for this indication" in th
    assert "ProDERM" in th
    assert "IFN receptor (IFNAR1) — Anifrolumab (Saphnelo)" in th
    assert "Topical corticosteroids (failed)" in th
    assert "No level of the type I IFN pathway has been targeted so far" in th


def test_sources_are_numbered_tagged_and_every_citation_mark_has_its_source(seed_html: str) -> None:
    src = section(seed_html, "sources")
    numbers = [int(n) for n in re.findall(r"\[(\d+)\] (?:A|B|U)(?:/[ABU])* ", src)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) >= 20
    assert "Lundberg IE" in src
    assert "Bottai M" in src
    targets = set(re.findall(r'id="src-(\d+)"', seed_html))
    marks = set(re.findall(r'href="#src-(\d+)"', seed_html))
    assert marks <= targets
    assert {str(n) for n in numbers} == targets
    own = re.search(r"\[(\d+)\] U ifnscope's own weighing rule", src)
    assert own, "the differential rule is listed as an unverified (U) source"
    assert f"Sources tagged U (not verified in any retrieved source): [{own.group(1)}]" in section(
        seed_html, "unverified"
    )


def test_html_is_self_contained(seed: tuple[Any, Any]) -> None:
    case, a = seed
    doc = render_html(a, case, letter=build_letter(case, a, "ivig"))
    low = doc.lower()
    for needle in ("<link", "<script", "<img", "<iframe", "<object", "@import", "url(", "src="):
        assert needle not in low, needle
    # web addresses appear only as plain links in citations
    assert not re.search(r'(?<!href=")https?://', re.sub(r">[^<]*<", "><", doc))
    assert "<style>" in doc
    assert "@page" in doc
    assert "counter(page)" in doc


def test_case_text_is_escaped() -> None:
    case = make_case(
        {"heliotrope_rash": "present"},
        title='<script>alert("x")</script> & <b>bold</b>',
        medications=[{"name": "<img src=x onerror=alert(1)>"}],
    )
    doc = render_html(assess(case), case)
    assert "<script" not in doc
    assert "<img" not in doc
    assert "<b>bold" not in doc
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in doc


def test_letter_section_appears_marked_draft_only_when_given(seed: tuple[Any, Any], seed_html: str) -> None:
    assert 'id="letter"' not in seed_html
    case, a = seed
    doc = render_html(a, case, letter=build_letter(case, a, "ivig"))
    letter = section(doc, "letter")
    assert letter.startswith("DRAFT Letter of medical necessity: Intravenous immunoglobulin")
    assert "Not for sending as is." in letter
    assert "ProDERM" in letter
    assert "Limits of the evidence for this patient" in letter
    assert "To complete or address before sending:" in letter
    assert re.search(r"\[1\] Lundberg IE.*?source \[1\] below\. Read: abstract \(A\)", letter)
    assert "includes a DRAFT letter" in text(doc)


def test_activity_section_for_the_cdasi_example() -> None:
    doc = render(ACTIVITY)
    g = section(doc, "glance")
    assert "Skin activity CDASI activity 36 of 100 (moderate–severe), damage 2 of 32" in g
    assert "Change since 2024-01-15: CDASI 41 → 36 (-5): MCID, UPenn (4 points): improved" in g
    act = section(doc, "activity")
    assert act.startswith("Skin activity and damage CDASI: activity 36 of 100 (moderate–severe)")
    assert "(damage scale unverified)" in act
    assert "Periorbital 3 0" in act
    assert "Lateral upper thigh 4 0" in act
    assert "Trial enrolment threshold" in act
    assert "Change since 2024-01-15" in act
    assert "41 36 -5 (-12%)" in act
    assert "improved, fell by 5 points" in act
    assert "Total Improvement Score (TIS): not computed." in act


def test_activity_not_scored_entries_are_ranges_not_zeros() -> None:
    case = make_case(
        {"heliotrope_rash": "present"}, activity={"clasi": {"areas": {"scalp": {"erythema": 1}}}}
    )
    act = section(render_html(assess(case), case), "activity")
    assert act.startswith("Skin activity and damage CLASI: activity 1–")
    assert "band undetermined" in act or "undetermined:" in act
    assert "not scored" in act
    assert "entries not scored" in act


@needs_shared_cases
def test_triggers_section_for_the_terbinafine_case() -> None:
    doc = render(CASES / "drug-scle-terbinafine.yaml")
    g = section(doc, "glance")
    assert g.index("ACT Drug trigger suspected: terbinafine (lupus)") < g.index("no_antimalarial_tried")
    assert "Favours lupus: subacute cutaneous lupus, anti-Ro/SSA" in g
    t = section(doc, "triggers")
    assert "terbinafine[" in t
    assert "suspected drug-induced subacute cutaneous lupus erythematosus" in t
    assert "started 1.2 months before onset" in t
    assert "OR 52.9" in t
    assert "population study" in t
    assert "ACT drug_trigger_suspected" in t
    s = section(doc, "screening")
    assert "Cancer screening does not apply" in s
    assert "Basic panel" not in s


def test_write_report_pdf_with_the_letter(tmp_path: Path) -> None:
    out = write_report(SEED, tmp_path / "seed.pdf", letter_agent="ivig")
    assert out == tmp_path / "seed.pdf"
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    pdf = pdfium.PdfDocument(data)
    try:
        assert 1 <= len(pdf) <= 9
        first = pdf[0].get_textpage().get_text_range()
        assert "At a glance" in first
        assert "probable IIM" in first
        assert "no_antimalarial_tried" in first
        last = pdf[len(pdf) - 1].get_textpage().get_text_range()
        assert f"page {len(pdf)} of {len(pdf)}" in last
    finally:
        pdf.close()
    assert list(tmp_path.iterdir()) == [out]


def test_write_report_html_with_default_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = write_report(SEED)
    assert out == Path(f"{SEED.stem}.report.html")
    doc = (tmp_path / out).read_text(encoding="utf-8")
    assert doc.startswith("<!DOCTYPE html>")
    assert "probable IIM" in doc
    assert not list(tmp_path.glob("*.partial"))


def test_a_failed_render_leaves_the_existing_report_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.html"
    out.write_text("previous report", encoding="utf-8")

    def boom(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(report, "render_html", boom)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_report(SEED, out)
    assert out.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_failed_write_removes_the_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "report.html"
    out.write_text("previous report", encoding="utf-8")
    real = Path.write_bytes

    def half(self: Path, data: bytes) -> int:
        real(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half)
    with pytest.raises(ReportError) as err:
        write_report(SEED, out)
    assert err.value.code == "report.write"
    assert "No space left on device" in str(err.value)
    assert out.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_bad_requests_are_ifnscope_errors_and_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(IfnscopeError) as err:
        write_report(SEED, tmp_path / "r.html", letter_agent="no-such-drug")
    assert err.value.code == "therapy.unknown-agent"
    with pytest.raises(ReportError) as err:
        write_report(SEED, tmp_path / "r.html", pdf=True)
    assert err.value.code == "report.format"
    with pytest.raises(IfnscopeError) as err:
        write_report(tmp_path / "missing.yaml", tmp_path / "r.html")
    assert err.value.code == "case.not-found"
    assert list(tmp_path.iterdir()) == []

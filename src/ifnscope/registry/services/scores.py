"""Interferon scores: saved fixed references, and scoring uploaded expression matrices of a
patient's samples.

Scoring takes seconds, so the server runs it in three steps: ``prepare_scoring`` (permission,
patient and reference, in a short transaction), ``compute_scores`` (no database) and
``store_scores`` (a second short transaction); ``score_matrix`` does all three in one call.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import ColumnElement, bindparam, exists, select
from sqlalchemy.orm import Session

from ifnscope.errors import RegistryError
from ifnscope.registry.auth import Actor
from ifnscope.registry.models import IfnScore, Sample, SavedReference, Visit
from ifnscope.registry.services._rows import first_visit_date, patient_row
from ifnscope.registry.services.audit import write_audit
from ifnscope.registry.services.deidentify import for_actor
from ifnscope.registry.services.views import NotScored, ReferenceInfo, ScoreView

if TYPE_CHECKING:
    from ifnscope.signatures.scoring import ScoreRun


def sample_is_live() -> ColumnElement[bool]:
    """SQL condition: the sample is not of a deleted visit.

    A sample stored with a visit (``visit_id``) was taken at that visit; deleting the visit says
    the visit should not be in the record (entered for the wrong patient, twice, or by mistake),
    and its samples leave the record, the timeline, exports and cohorts with it (kept in the
    database, like the visit). Samples stored without a visit are the patient's own."""
    return ~exists().where(Visit.id == Sample.visit_id, Visit.deleted_at.is_not(None))


def _reference_info(r: SavedReference) -> ReferenceInfo:
    return ReferenceInfo(
        name=r.name,
        controls=r.content.get("n_controls"),
        normalization=r.content.get("normalization"),
        created_at=r.created_at.isoformat(),
    )


def save_reference(s: Session, actor: Actor, name: str, content: dict[str, Any]) -> ReferenceInfo:
    """Store a fixed reference (the JSON ``ifnscope reference fit`` writes) under ``name``.

    Validated by the same function that reads a reference file (``reference_from_content``), so
    what is stored is what the command line would load: anything else is a ReferenceFileError
    (``reference.format``, or ``reference.version`` for a format newer than this ifnscope)."""
    from ifnscope.signatures.reference import reference_from_content

    actor.require("score")
    reference_from_content(content, file=name)
    if s.scalar(select(SavedReference.id).where(SavedReference.name == name)) is not None:
        raise RegistryError(f"a reference named {name!r} already exists", code="registry.conflict")
    row = SavedReference(name=name, content=content)
    s.add(row)
    s.flush()
    write_audit(s, actor, "save_reference", None, name[:120])
    return _reference_info(row)


def list_references(s: Session, actor: Actor) -> list[ReferenceInfo]:
    actor.require("read_deidentified")
    return [_reference_info(r) for r in s.scalars(select(SavedReference).order_by(SavedReference.name))]


def prepare_scoring(
    s: Session,
    actor: Actor,
    patient_id: int,
    *,
    reference_name: str | None,
    visit_id: int | None = None,
) -> dict[str, Any] | None:
    """Check that scores may be stored for this patient (and visit) and return the saved
    reference's content. Scoring itself happens outside any transaction (``compute_scores``):
    a scoring run takes seconds and must not hold the database's write lock."""
    actor.require("score")
    p = patient_row(s, patient_id)
    if visit_id is not None:
        v = s.get(Visit, visit_id)
        if v is None or v.patient_id != p.id or v.deleted_at is not None:
            raise RegistryError(
                f"visit {visit_id} is not a visit of patient {patient_id}", code="registry.invalid"
            )
    if not reference_name:
        return None
    row = s.scalar(select(SavedReference).where(SavedReference.name == reference_name))
    if row is None:
        raise RegistryError(f"no saved reference named {reference_name!r}", code="registry.not-found")
    return dict(row.content)


def compute_scores(matrix_path: Path, signatures: list[str], reference: dict[str, Any] | None) -> ScoreRun:
    """Score an expression matrix file (no database): the :class:`ScoreRun` to store.

    Signatures that cannot be scored are in ``run.failed`` (see :func:`not_scored`); the run
    raises only when none could be."""
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.reference import reference_from_content
    from ifnscope.signatures.scoring import score

    # checked against this ifnscope's gene table and signatures when used, not when saved
    ref = reference_from_content(reference) if reference is not None else None
    return score(read_expression(matrix_path), signatures, reference=ref)


def not_scored(run: ScoreRun) -> list[NotScored]:
    """The run's refused signatures, for the answer to an upload."""
    return [NotScored(signature=f.signature, code=f.code, message=f.message) for f in run.failed]


def run_notes(run: ScoreRun) -> list[str]:
    """The scale assumed and the notes of the data and of each signature (no sample names)."""
    out = [run.scale]
    for r in run.results:
        out += [f"{r.signature.name}: {n}" for n in r.notes]
        if r.cutoff is not None and r.cutoff.caution:
            out.append(f"{r.signature.name}: caution: {r.cutoff.caution}")
    return out


def store_scores(
    s: Session,
    actor: Actor,
    patient_id: int,
    run: ScoreRun,
    *,
    reference_name: str | None,
    visit_id: int | None = None,
    collected_on: dt.date | None = None,
    tissue: str | None = None,
) -> list[ScoreView]:
    """Store a scoring run's samples (all of this patient) and their scores."""
    actor.require("score")
    p = patient_row(s, patient_id)
    samples: dict[str, Sample] = {}
    for name in run.samples:
        smp = Sample(
            patient_id=p.id, visit_id=visit_id, label=str(name), collected_on=collected_on, tissue=tissue
        )
        s.add(smp)
        samples[str(name)] = smp
    s.flush()
    for r in run.results:
        cut = r.cutoff.description if r.cutoff else None
        for i, name in enumerate(run.samples):
            val = float(r.scores[i])
            s.add(
                IfnScore(
                    sample_id=samples[str(name)].id,
                    signature=r.signature.name,
                    method=r.method,
                    score=val if val == val else None,  # NaN -> null
                    call=(str(r.calls[i]) or None) if r.calls is not None else None,
                    genes_found=len(r.coverage.found),
                    genes_total=r.coverage.total,
                    reference_name=reference_name,
                    cutoff_source=cut,
                )
            )
    s.flush()
    write_audit(s, actor, "score_samples", p.id, f"{len(samples)} samples, {len(run.results)} signatures")
    return patient_scores(s, actor, p.id)


def score_matrix(
    s: Session,
    actor: Actor,
    patient_id: int,
    matrix_path: Path,
    *,
    signatures: list[str],
    reference_name: str | None,
    visit_id: int | None = None,
    collected_on: dt.date | None = None,
    tissue: str | None = None,
) -> list[ScoreView]:
    """Prepare, compute and store in one call (scripts and tests; the server splits the steps so
    that the computation runs outside the transaction)."""
    reference = prepare_scoring(s, actor, patient_id, reference_name=reference_name, visit_id=visit_id)
    run = compute_scores(matrix_path, signatures, reference)
    return store_scores(
        s,
        actor,
        patient_id,
        run,
        reference_name=reference_name,
        visit_id=visit_id,
        collected_on=collected_on,
        tissue=tissue,
    )


# Built once: every read of a patient runs it (see _rows.py)
_PATIENT_SCORES = (
    select(IfnScore, Sample)
    .join(Sample, IfnScore.sample_id == Sample.id)
    .where(Sample.patient_id == bindparam("patient_id"), sample_is_live())
    .order_by(Sample.collected_on, Sample.id, IfnScore.signature)
)


def patient_scores(
    s: Session, actor: Actor, patient_id: int, *, first: dt.date | Literal["query"] | None = "query"
) -> list[ScoreView]:
    """Every score of the patient's samples, oldest sample first, leaving out the samples of
    deleted visits (:func:`sample_is_live`; no permission check or audit:
    for the functions that did both); ``first``: the first visit's date, when the caller knows it."""
    if first == "query":
        first = first_visit_date(s, patient_id)
    rows = s.execute(_PATIENT_SCORES, {"patient_id": patient_id}).all()
    out = []
    for sc, smp in rows:
        when = smp.collected_on
        out.append(
            for_actor(
                actor,
                "score",
                ScoreView(
                    sample_id=smp.id,
                    sample=smp.label if actor.identified else f"sample {smp.id}",
                    visit_id=smp.visit_id,
                    collected_on=when.isoformat() if (when and actor.identified) else None,
                    days_since_first_visit=(when - first).days if (when and first) else None,
                    tissue=smp.tissue,
                    signature=sc.signature,
                    method=sc.method,
                    score=sc.score,
                    call=sc.call,
                    genes_found=sc.genes_found,
                    genes_total=sc.genes_total,
                    reference=sc.reference_name,
                ),
            )
        )
    return out

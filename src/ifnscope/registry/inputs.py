"""The input rules of the registry, in one place for the web forms, the API and the services.

A rule that only the web form knew let the API store what the form refuses (a birth date in
the future, a patient with no name, a visit in 2030, a cohort query on a signature that does
not exist). Each rule is written once here and used three ways:

- as a plain check (``birth_date_problem`` …) that returns the message or ``None``: the web
  pages show it beside the field;
- as a pydantic type (:data:`BirthDate`, :data:`VisitDate`, :data:`SignatureName`) in the API's
  request models: 422 ``request.invalid`` with the same message at ``body.<field>``;
- as a guard in the services (``check_*``): 422 ``registry.invalid`` with the same message and
  the field as its ``loc``, for callers that skip both (the command line, scripts).

The rules are about plausibility of the record, not clinical thresholds: no clinical number lives
here. The earliest date (1900) is the web form's, kept as it was.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from ifnscope.case.model import _PARTIAL_DATE
from ifnscope.errors import RegistryError

EARLIEST = dt.date(1900, 1, 1)
SEXES = ("female", "male", "other", "unknown")
Sex = Literal["female", "male", "other", "unknown"]

MSG_NAME = "Enter the patient's name."
MSG_BIRTH_FUTURE = "The birth date is in the future."
MSG_BIRTH_EARLY = "The birth date is before 1900."
MSG_VISIT_FUTURE = "The visit date is in the future."
MSG_VISIT_EARLY = "The visit date is before 1900."
MSG_VISIT_BEFORE_BIRTH = "The visit date is before the patient's birth date."
MSG_SIGNATURE = "Choose a signature from the list."


def _today() -> dt.date:
    return dt.date.today()


# ------------------------------------------------------------------------------ checks


def birth_date_problem(d: dt.date | None) -> str | None:
    """Why a birth date cannot be right, or None (no date is fine: unknown)."""
    if d is None:
        return None
    if d > _today():
        return MSG_BIRTH_FUTURE
    if d < EARLIEST:
        return MSG_BIRTH_EARLY
    return None


def visit_date_problem(d: dt.date | None, birth: dt.date | None = None) -> str | None:
    """Why a visit date cannot be right, or None (no date: the service uses today)."""
    if d is None:
        return None
    if d > _today():
        return MSG_VISIT_FUTURE
    if d < EARLIEST:
        return MSG_VISIT_EARLY
    if birth is not None and d < birth:
        return MSG_VISIT_BEFORE_BIRTH
    return None


def signature_names() -> list[str]:
    """The packaged signatures' names (the catalogue a cohort query may name)."""
    from ifnscope.signatures.catalog import signatures

    return sorted(signatures())


def canonical_signature(name: str) -> str | None:
    """The catalogue name of ``name`` (case and ``-``/``.`` forgiven, as on the command line),
    or None when there is no such signature."""
    key = name.strip().lower().replace("-", "_").replace(".", "_")
    return key if key in signature_names() else None


# ------------------------------------------------------------------- service-layer guards


def _refuse(message: str, field: str) -> RegistryError:
    return RegistryError(message, code="registry.invalid", loc=(field,))


def check_patient(name: str | None, mrn: str | None, birth_date: dt.date | None) -> None:
    """A patient needs a name or an MRN (else nobody can find her again) and a plausible birth
    date. The web form and the API ask for the name; the services accept an MRN alone (imports)."""
    if not (name or "").strip() and not (mrn or "").strip():
        raise _refuse(MSG_NAME, "name")
    check_birth_date(birth_date)


def check_birth_date(d: dt.date | None) -> None:
    if problem := birth_date_problem(d):
        raise _refuse(problem, "birth_date")


def check_visit_date(d: dt.date | None, birth: dt.date | None = None) -> None:
    if problem := visit_date_problem(d, birth):
        raise _refuse(problem, "visit_date")


def check_partial_date(text: str | None, field: str) -> None:
    """A partial date (YYYY, YYYY-MM, YYYY-MM-DD) that names a real day, month or year."""
    if not text or not re.fullmatch(_PARTIAL_DATE, text):
        return  # no date, or not the format: the case format's Medication says so in its words
    parts = text.split("-")
    try:
        dt.date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1)
    except ValueError:
        raise _refuse(f"{text!r} is not a real date (YYYY, YYYY-MM or YYYY-MM-DD)", field) from None


def check_signature(name: str) -> str:
    """The catalogue name of a signature named in a query; registry.invalid when unknown."""
    found = canonical_signature(name)
    if found is None:
        raise _refuse(MSG_SIGNATURE, "ifn_high")
    return found


# --------------------------------------------------------------------- pydantic types


def _pydantic(problem: str | None) -> None:
    if problem is not None:
        raise PydanticCustomError("value_error", problem)


def _text_date(v: Any) -> Any:
    """A date is text (YYYY-MM-DD) or a date: pydantic would read the number 0 as 1970-01-01."""
    if isinstance(v, int | float):  # bool too
        raise PydanticCustomError("date_type", "expected a date (YYYY-MM-DD)")
    return v


def _birth(d: dt.date) -> dt.date:
    _pydantic(birth_date_problem(d))
    return d


def _visit(d: dt.date) -> dt.date:
    _pydantic(visit_date_problem(d))
    return d


def _signature(name: str) -> str:
    found = canonical_signature(name)
    if found is None:
        raise PydanticCustomError("value_error", MSG_SIGNATURE)
    return found


def _signature_schema(schema: dict[str, Any]) -> None:
    """List the catalogue in the OpenAPI document (read when the schema is built, not at import)."""
    schema["enum"] = signature_names()


BirthDate = Annotated[
    dt.date,
    BeforeValidator(_text_date),
    AfterValidator(_birth),
    Field(description="YYYY-MM-DD, not in the future, from 1900"),
]
VisitDate = Annotated[
    dt.date,
    BeforeValidator(_text_date),
    AfterValidator(_visit),
    Field(description="YYYY-MM-DD, not in the future, from 1900"),
]
SignatureName = Annotated[
    str,
    AfterValidator(_signature),
    Field(
        description="A packaged signature, e.g. rice6 (the list: `ifnscope signatures`)",
        json_schema_extra=_signature_schema,
    ),
]
# A partial date (YYYY, YYYY-MM, YYYY-MM-DD) as the case format takes it; stated for the schema,
# where pydantic drops the pattern of case.model.PartialDate (it sits behind a before-validator).
PARTIAL_DATE_SCHEMA: dict[str, Any] = {"pattern": _PARTIAL_DATE}
ActivityScore = Annotated[float, Field(ge=0, le=100, description="An activity score, 0–100")]


class PatientInput(BaseModel):
    """A new patient, as the web form and the API take it."""

    model_config = ConfigDict(extra="forbid")

    # Not blank: checked by _name with the form's message; minLength and pattern only tell the schema.
    name: str = Field(
        max_length=200,
        description="Required (not blank)",
        json_schema_extra={"minLength": 1, "pattern": r"\S"},
    )
    mrn: str | None = Field(default=None, max_length=80, description="Medical record number (unique)")
    birth_date: BirthDate | None = None
    sex: Sex | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise PydanticCustomError("value_error", MSG_NAME)
        return v

    @field_validator("mrn")
    @classmethod
    def _mrn(cls, v: str | None) -> str | None:
        return (v or "").strip() or None


def form_errors(exc: Any) -> dict[str, str]:
    """A pydantic ``ValidationError`` as ``{field: message}`` for a web form (the first message
    of each field)."""
    out: dict[str, str] = {}
    for e in exc.errors(include_url=False):
        loc = e.get("loc") or ("",)
        out.setdefault(str(loc[0]), str(e.get("msg", "invalid")))
    return out

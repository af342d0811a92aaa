"""One exception tree for ifnscope, with stable codes.

Every error a person can cause (a bad case file, an unknown signature name, a malformed
matrix) is an :class:`IfnscopeError`. The CLI, the web API and the tests rely on three
things only: ``code`` (stable, machine-readable, never reworded), ``message`` (for a
person), and ``location`` (file and key path, where it applies). Nothing else is caught
at the edges, so a bug still surfaces as a bug.

::

    IfnscopeError                      code prefix
    ├── CaseError                      case.*
    │   ├── CaseNotFoundError          case.not-found
    │   │                              (case.empty: a visit's case records nothing to assess)
    │   ├── CaseParseError             case.parse, case.duplicate-key, case.too-large
    │   │                              (over the size, value or nesting cap), case.aliases
    │   │                              (too many YAML alias uses: "billion laughs")
    │   └── CaseValidationError        case.invalid (carries .issues, one per problem:
    │                                  case.unknown-key, case.missing-key, case.wrong-type,
    │                                  case.invalid-value, case.out-of-range, case.inconsistent)
    ├── FhirError                      fhir.not-found, fhir.format (not JSON, not FHIR),
    │                                  fhir.invalid (a Bundle without its type), fhir.too-large,
    │                                  fhir.patient (several patients and none chosen, or
    │                                  not a person), fhir.server (a FHIR server's refusal)
    ├── CdsError                       cds.unknown-service, cds.request (not a hook request
    │                                  this service answers), cds.prefetch (the data the
    │                                  service needs is neither prefetched nor readable: 412)
    ├── TherapyError                   therapy.unknown-agent (a letter asked for an agent
    │                                  the knowledge base does not hold)
    ├── SignatureError                 signature.unknown, signature.coverage (too few genes
    │                                  found to score), signature.needs-reference,
    │                                  signature.method (a method that cannot apply),
    │                                  signature.scale (a method refused for this scale,
    │                                  e.g. a level-based score on z-scored data)
    ├── MatrixError                    matrix.not-found, matrix.format, matrix.empty,
    │                                  matrix.genes (no identifier column resolves to genes),
    │                                  matrix.scale, matrix.controls, matrix.samples
    │                                  (empty or duplicate sample names), matrix.corrupt
    │                                  (inconsistent sparse structure, truncated file),
    │                                  matrix.too-large (declared or decompressed size over
    │                                  the cap), matrix.species (not human identifiers),
    │                                  matrix.layer (no such layer, no .raw)
    ├── ReferenceFileError             reference.not-found, reference.format,
    │                                  reference.incompatible (fitted on other data),
    │                                  reference.version (other gene table or signatures)
    ├── ReportError                    report.format, report.write
    ├── OutputError                    output.format (an output file type ifnscope cannot
    │                                  write), output.write (a folder that does not exist
    │                                  or cannot be written); checked before any work
    ├── RegistryError                  registry.not-found, registry.conflict,
    │                                  registry.duplicate (a likely duplicate patient),
    │                                  registry.forbidden, registry.migration,
    │                                  registry.too-large, registry.invalid,
    │                                  registry.unavailable (database down, read-only, full
    │                                  or past its statement timeout: web 503)
    ├── AuthError                      auth.required, auth.invalid (a wrong login or token),
    │                                  auth.csrf (a form without its token)
    ├── MissingExtraError              install.missing-extra (a command needs an optional
    │                                  part: ``pip install 'ifnscope[web]'``)
    └── DataError                      data.invalid, data.missing (a packaged rule table is
                                       malformed or absent: a bug in ifnscope's own data,
                                       reported with the file and row)

Every code is a member of :data:`ErrorCode`; ``mypy --strict`` refuses any other string.
Issue codes (one per problem inside a ``case.invalid``) are :data:`IssueCode`.

Exit codes used by the CLI: 2 for any ``IfnscopeError`` caused by input, 1 for internal
errors (``DataError``), 0 otherwise. The web API maps codes to HTTP statuses
(``ifnscope.web.errors``) and always answers ``{"error": {code, message, field?}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "AuthError",
    "CaseError",
    "CaseNotFoundError",
    "CaseParseError",
    "CaseValidationError",
    "CdsError",
    "DataError",
    "ErrorCode",
    "FhirError",
    "IfnscopeError",
    "Issue",
    "IssueCode",
    "MatrixError",
    "MissingExtraError",
    "OutputError",
    "ReferenceFileError",
    "RegistryError",
    "ReportError",
    "SignatureError",
    "TherapyError",
    "format_loc",
    "require_extra",
]

IssueCode = Literal[
    "case.unknown-key",
    "case.missing-key",
    "case.wrong-type",
    "case.invalid-value",
    "case.out-of-range",
    "case.inconsistent",
]
"""The code of one problem inside a ``case.invalid`` error (pydantic-style, never reworded)."""

ErrorCode = Literal[
    "ifnscope.error",
    "case.error",
    "case.not-found",
    "case.empty",
    "case.parse",
    "case.duplicate-key",
    "case.too-large",
    "case.aliases",
    "case.invalid",
    "fhir.error",
    "fhir.not-found",
    "fhir.format",
    "fhir.invalid",
    "fhir.too-large",
    "fhir.patient",
    "fhir.server",
    "cds.error",
    "cds.unknown-service",
    "cds.request",
    "cds.prefetch",
    "therapy.error",
    "therapy.unknown-agent",
    "signature.error",
    "signature.unknown",
    "signature.coverage",
    "signature.needs-reference",
    "signature.method",
    "signature.scale",
    "matrix.error",
    "matrix.not-found",
    "matrix.format",
    "matrix.empty",
    "matrix.genes",
    "matrix.scale",
    "matrix.controls",
    "matrix.samples",
    "matrix.corrupt",
    "matrix.too-large",
    "matrix.species",
    "matrix.layer",
    "reference.error",
    "reference.not-found",
    "reference.format",
    "reference.incompatible",
    "reference.version",
    "report.error",
    "report.format",
    "report.write",
    "output.error",
    "output.format",
    "output.write",
    "registry.error",
    "registry.not-found",
    "registry.conflict",
    "registry.duplicate",
    "registry.forbidden",
    "registry.migration",
    "registry.too-large",
    "registry.invalid",
    "registry.unavailable",
    "auth.required",
    "auth.invalid",
    "auth.csrf",
    "auth.throttled",
    "install.missing-extra",
    "data.invalid",
    "data.missing",
]
"""Every error code ifnscope raises: stable, machine-readable, never reworded."""


def format_loc(loc: Sequence[str | int]) -> str:
    """Render a key path the way a clinician would point at it: ``lesions[2].colour``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class Issue:
    """One problem found in an input, pydantic-style: stable code, where, what, expected."""

    code: IssueCode | ErrorCode
    loc: tuple[str | int, ...]
    message: str
    expected: str | None = None
    got: Any = None
    suggestion: str | None = None
    line: int | None = None

    @property
    def path(self) -> str:
        return format_loc(self.loc)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "path": self.path, "message": self.message}
        if self.expected is not None:
            d["expected"] = self.expected
        if self.got is not None:
            d["got"] = self.got
        if self.suggestion is not None:
            d["did_you_mean"] = self.suggestion
        if self.line is not None:
            d["line"] = self.line
        return d

    def describe(self, file: str | None = None) -> str:
        where = file or ""
        if self.line is not None and file:
            where += f":{self.line}"
        head = f"{where}: {self.path}" if where else self.path
        text = f"{head}: {self.message}"
        if self.expected:
            text += f" (expected {self.expected})"
        if self.suggestion:
            text += f"; did you mean '{self.suggestion}'?"
        return text


class IfnscopeError(Exception):
    """Base of every error ifnscope raises on purpose."""

    code: ErrorCode = "ifnscope.error"
    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        file: str | None = None,
        loc: Sequence[str | int] = (),
        issues: Sequence[Issue] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.file = file
        self.loc = tuple(loc)
        self.issues: list[Issue] = list(issues)
        self.details: dict[str, Any] = {}  # extra fields for the API's error body (ids, never text)

    def __str__(self) -> str:
        lines = [self.headline()]
        lines += ["  " + i.describe(self.file) for i in self.issues]
        return "\n".join(lines)

    def headline(self) -> str:
        where = self.file or ""
        if self.loc:
            where = f"{where}: {format_loc(self.loc)}" if where else format_loc(self.loc)
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.file:
            d["file"] = self.file
        if self.loc:
            d["path"] = format_loc(self.loc)
        if self.issues:
            d["issues"] = [i.to_dict() for i in self.issues]
        return d


class CaseError(IfnscopeError):
    """A case file could not be read as a valid ``ifnscope-case/1`` document."""

    code: ErrorCode = "case.error"


class CaseNotFoundError(CaseError):
    code: ErrorCode = "case.not-found"


class CaseParseError(CaseError):
    """The file is not well-formed YAML/JSON (syntax, duplicate keys, not a mapping)."""

    code: ErrorCode = "case.parse"


class CaseValidationError(CaseError):
    """The document parsed but breaks the case format; ``issues`` lists every problem."""

    code: ErrorCode = "case.invalid"


class FhirError(IfnscopeError):
    """A FHIR record that cannot be read as one patient's record (``ifnscope.fhir``)."""

    code: ErrorCode = "fhir.error"


class CdsError(IfnscopeError):
    """A CDS Hooks call ifnscope cannot answer (``web.api.cds``)."""

    code: ErrorCode = "cds.error"


class TherapyError(IfnscopeError):
    """A request about a treatment the therapy knowledge base does not hold."""

    code: ErrorCode = "therapy.error"


class SignatureError(IfnscopeError):
    """A signature name, coverage or method problem (e.g. too few of its genes were found)."""

    code: ErrorCode = "signature.error"


class MatrixError(IfnscopeError):
    """An expression matrix could not be read or understood."""

    code: ErrorCode = "matrix.error"


class ReferenceFileError(IfnscopeError):
    """A fixed reference file is missing, malformed, or was fitted on incompatible data."""

    code: ErrorCode = "reference.error"


class ReportError(IfnscopeError):
    """The report could not be rendered or written (``report.*``)."""

    code: ErrorCode = "report.error"


class OutputError(IfnscopeError):
    """An output file (scores, a plot, a summary) cannot be written where or as asked."""

    code: ErrorCode = "output.error"


class RegistryError(IfnscopeError):
    """A registry request that cannot be done: unknown patient, conflict, forbidden, too large."""

    code: ErrorCode = "registry.error"


class AuthError(IfnscopeError):
    """Not logged in, a wrong password or token, or a form without its CSRF token."""

    code: ErrorCode = "auth.required"


class MissingExtraError(IfnscopeError):
    """A command needs an optional part of ifnscope that is not installed.

    The core (case assessment, signatures, CLI) installs alone; the web app, the PDF report,
    PostgreSQL and Parquet are extras. The message names the one to install.
    """

    code: ErrorCode = "install.missing-extra"


# What each extra brings, for the message that asks for it (pyproject.toml's optional-dependencies).
_EXTRA_FOR = {
    "web": "the registry, web app and API",
    "pdf": "the PDF report",
    "postgres": "the registry on PostgreSQL",
    "parquet": "Parquet output",
    "fhir": "reading and writing FHIR records",
}


def require_extra(extra: str, module: str) -> None:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``ifnscope[extra]``."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        what = _EXTRA_FOR.get(extra, f"the {extra!r} extra")
        raise MissingExtraError(
            f"this needs the optional package {module!r} (for {what}), which is not installed: "
            f"pip install 'ifnscope[{extra}]'"
        ) from exc


class DataError(IfnscopeError):
    """ifnscope's own packaged data (a rule table) is malformed. A bug, not user error."""

    code: ErrorCode = "data.invalid"
    exit_code = 1

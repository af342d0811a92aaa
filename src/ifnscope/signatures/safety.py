"""Defences at the input boundary: size caps, safe text opening, sparse-structure checks.

Every reader goes through these so that a hostile or broken file (a gzip bomb, a truncated
archive, bytes that are not UTF-8, a header declaring 10^9 x 10^9, a CSR whose indices point
outside the matrix) ends in a :class:`~ifnscope.errors.MatrixError` with a stable code before
anything large is allocated, never in a traceback, a hang or an exhausted memory.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from ifnscope.errors import ErrorCode, MatrixError

# Decompressed (or plain) text a reader may consume: a bulk table of 60,000 genes x 2,000
# samples is ~1 GB of text; a .tsv.gz that inflates past this is refused, not inflated.
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
# What one matrix may take in memory once loaded (dense values, or CSR values + indices).
MAX_MATRIX_BYTES = 8 * 1024**3
# Names on one axis (cells, genes, samples): each costs a Python string (~60 bytes).
MAX_AXIS_LENGTH = 50_000_000

ENV_DECOMPRESSED = "IFNSCOPE_MAX_DECOMPRESSED_BYTES"
ENV_MATRIX = "IFNSCOPE_MAX_MATRIX_BYTES"
ENV_AXIS = "IFNSCOPE_MAX_AXIS_LENGTH"

# What reading a damaged file raises from gzip, zlib, h5py, pandas or pyarrow: turned into a
# MatrixError at the reader's edge (anything else is a bug and surfaces as one).
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    UnicodeDecodeError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    MemoryError,
)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise MatrixError(f"{name}={raw!r} is not a number of bytes", code="matrix.too-large") from None
    return max(value, 1)


def max_decompressed_bytes() -> int:
    return _env_int(ENV_DECOMPRESSED, MAX_DECOMPRESSED_BYTES)


def max_matrix_bytes() -> int:
    return _env_int(ENV_MATRIX, MAX_MATRIX_BYTES)


def max_axis_length() -> int:
    return _env_int(ENV_AXIS, MAX_AXIS_LENGTH)


def _gib(n: float) -> str:
    return f"{n / 1024**3:.3g} GiB" if n >= 1024**3 else f"{n / 1024**2:.3g} MiB"


def check_budget(n_bytes: float, what: str, file: str | None = None) -> None:
    """Refuse before allocating ``n_bytes`` for ``what`` when over the memory cap."""
    cap = max_matrix_bytes()
    if n_bytes > cap:
        raise MatrixError(
            f"{what} would need {_gib(n_bytes)} in memory, over the cap of {_gib(cap)} "
            f"(set {ENV_MATRIX} to raise it)",
            file=file,
            code="matrix.too-large",
        )


def check_axis(n: int, what: str, file: str | None = None) -> None:
    """Refuse an axis declared longer than any real data set (before reading its names)."""
    cap = max_axis_length()
    if n < 0 or n > cap:
        raise MatrixError(
            f"the file declares {n:,} {what}, over the cap of {cap:,} (set {ENV_AXIS} to raise it)",
            file=file,
            code="matrix.too-large",
        )


class CappedReader(io.RawIOBase):
    """A binary stream that stops (raises) once more than ``cap`` bytes have been read.

    Wraps a gzip stream so that a small file inflating to gigabytes is stopped at the cap
    instead of after inflating; ``exceeded`` lets a caller whose parser wrapped the exception
    (pyarrow, pandas) still tell why the read failed.
    """

    def __init__(self, raw: IO[bytes], cap: int, name: str) -> None:
        super().__init__()
        self._raw = raw
        self.cap = cap
        self.count = 0
        self.exceeded = False
        self.name = name

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        want = min(len(view), self.cap + 1 - self.count)
        if want <= 0:
            self.exceeded = True
            raise too_large(self.cap, self.name)
        chunk = self._raw.read(want)
        n = len(chunk)
        view[:n] = chunk
        self.count += n
        if self.count > self.cap:
            self.exceeded = True
            raise too_large(self.cap, self.name)
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


def too_large(cap: int, name: str) -> MatrixError:
    return MatrixError(
        f"the file holds more than {_gib(cap)} of (decompressed) text, over the cap "
        f"(set {ENV_DECOMPRESSED} to raise it)",
        file=name,
        code="matrix.too-large",
    )


def open_binary(path: Path) -> CappedReader:
    """The file's (decompressed) bytes through a :class:`CappedReader`."""
    raw = cast(IO[bytes], gzip.open(path, "rb") if is_gzip(path) else path.open("rb"))  # noqa: SIM115
    return CappedReader(raw, max_decompressed_bytes(), str(path))


def is_gzip(path: Path) -> bool:
    """By content (a .gz suffix on a plain file, or a gzip without one, both occur)."""
    try:
        with path.open("rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


@contextmanager
def open_text(path: Path) -> Iterator[io.TextIOWrapper]:
    """Strict UTF-8 text (a BOM is skipped), capped, with read errors turned into MatrixErrors."""
    with read_errors(path), open_binary(path) as raw:
        yield io.TextIOWrapper(io.BufferedReader(raw, 1024 * 1024), encoding="utf-8-sig", newline="")


def describe_read_error(exc: BaseException) -> tuple[str, ErrorCode]:
    """A person's wording and a code for an exception raised while reading a file."""
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"the file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} "
            "of a block); save it as UTF-8",
            "matrix.format",
        )
    if isinstance(exc, (EOFError, zlib.error, gzip.BadGzipFile)):
        return f"the compressed file is truncated or damaged ({exc or type(exc).__name__})", "matrix.corrupt"
    if isinstance(exc, MemoryError):
        return "reading the file ran out of memory", "matrix.too-large"
    text = str(exc) or type(exc).__name__
    if "codec can't decode" in text or "invalid UTF-8" in text or "utf-8" in text.lower():
        return f"the file is not UTF-8 text ({text[:200]}); save it as UTF-8", "matrix.format"
    if any(w in text for w in ("Compressed file ended", "CRC check failed", "Error -3", "truncated")):
        return f"the compressed file is truncated or damaged ({text[:200]})", "matrix.corrupt"
    return f"cannot read the file: {text[:300]}", "matrix.corrupt"


@contextmanager
def read_errors(path: Path | str, *, what: str = "") -> Iterator[None]:
    """Turn a damaged file's low-level exceptions into one MatrixError naming the file."""
    try:
        yield
    except MatrixError:
        raise
    except READ_ERRORS as exc:
        message, code = describe_read_error(exc)
        raise MatrixError(f"{what}{message}", file=str(path), code=code) from None


# ------------------------------------------------------------------------------ sparse


def check_compressed(
    indptr: np.ndarray,
    indices: np.ndarray,
    n_data: int,
    n_major: int,
    n_minor: int,
    *,
    file: str | None = None,
    what: str = "CSR",
) -> None:
    """A compressed sparse structure that can be scored: O(nnz), no copy of the values.

    ``n_major`` is the number of rows of a CSR (columns of a CSC). Checked: indptr's length,
    start at 0, monotone, end equal to the number of stored values (and of indices), every
    index within ``[0, n_minor)``. A kernel trusting a corrupt structure reads outside its
    arrays or silently scores another gene.
    """
    check_indptr(indptr, n_data, int(indices.size), n_major, file=file, what=what)
    check_indices(indices, n_minor, file=file, what=what)


def check_indptr(
    indptr: np.ndarray,
    n_data: int,
    n_indices: int,
    n_major: int,
    *,
    file: str | None = None,
    what: str = "CSR",
) -> None:
    """The indptr part of :func:`check_compressed` (the indices may be checked per chunk)."""

    def bad(msg: str) -> MatrixError:
        return MatrixError(f"corrupt {what} matrix: {msg}", file=file, code="matrix.corrupt")

    if indptr.ndim != 1 or indptr.size != n_major + 1:
        raise bad(f"indptr has {indptr.size} entries, expected {n_major + 1} (rows + 1)")
    if n_indices != n_data:
        raise bad(f"{n_indices} indices but {n_data} stored values")
    if int(indptr[0]) != 0:
        raise bad(f"indptr starts at {int(indptr[0])}, expected 0")
    if int(indptr[-1]) != n_data:
        raise bad(f"indptr ends at {int(indptr[-1])} but there are {n_data} stored values")
    if indptr.size > 1 and bool((np.diff(indptr) < 0).any()):
        raise bad("indptr decreases (it must be non-decreasing)")


def check_indices(indices: np.ndarray, n_minor: int, *, file: str | None = None, what: str = "CSR") -> None:
    """Every index within ``[0, n_minor)`` (per chunk when streaming)."""
    if indices.size == 0:
        return
    lo, hi = int(indices.min()), int(indices.max())
    if lo < 0 or hi >= n_minor:
        raise MatrixError(
            f"corrupt {what} matrix: an index is {lo if lo < 0 else hi}, outside 0..{n_minor - 1}",
            file=file,
            code="matrix.corrupt",
        )

"""Expression matrices as ifnscope sees them: samples (or cells) x features, read once.

Three shapes share one interface (:class:`Matrix`): a dense in-memory matrix (bulk,
delimited text), a CSR matrix in memory (10x, AnnData), and an ``.h5ad`` file streamed from
disk in row chunks so that a million cells never sit in memory at once. Each can run one
pass (``run_pass``) that returns, for the requested feature columns only, the stored values,
every sample's library size and, for rank scores, how many values fall below each target.
"""

from __future__ import annotations

import atexit
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ifnscope.signatures.safety import (
    check_budget,
    check_compressed,
    check_indices,
    check_indptr,
    read_errors,
)

Kind = Literal["bulk", "single_cell"]

# Rows per chunk when streaming from disk: 10k cells x 1,500 values x 8 bytes = 120 MB; with
# two chunks read ahead, a million cells are scored in well under 2 GB.
CHUNK_ROWS = 10_000


class Annotations:
    """Sample annotations as string columns aligned with the samples, loaded on first use."""

    def __init__(self, columns: list[str], loader: Any) -> None:
        self.columns = list(columns)
        self._loader = loader
        self._cache: dict[str, np.ndarray] = {}

    def column(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = np.asarray(self._loader(name), dtype=object)
        return self._cache[name]

    @classmethod
    def from_frame(cls, df: Any, samples: np.ndarray) -> Annotations:
        """From a pandas DataFrame indexed by sample name (rows are aligned to ``samples``)."""
        aligned = df.reindex([str(x) for x in samples])
        return cls(
            [str(c) for c in df.columns],
            lambda name: aligned[name].astype(str).where(aligned[name].notna(), "").to_numpy(),
        )


@dataclass
class PassResult:
    values: np.ndarray  # samples x targets, float32, as stored
    lib: np.ndarray  # samples, float64: sum of every stored value of the sample
    below: np.ndarray | None  # samples x targets, int32: values strictly below each target


def sort_targets(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique target columns and, for each requested column, its position among them."""
    uniq, inverse = np.unique(np.asarray(cols, dtype=np.int64), return_inverse=True)
    return uniq.astype(np.int32), inverse


def csr_values_numpy(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    n_cols: int,
    targets_sorted: np.ndarray,
    out_values: np.ndarray,
    out_lib: np.ndarray,
) -> None:
    """Library sizes and target values of CSR rows with numpy alone (no ranks).

    Row indices need not be sorted, and a column stored twice in a row is summed, as scipy
    does. Memory: a few arrays the size of the chunk's stored values, so call it per chunk.
    """
    # Segments over the non-empty rows only: each runs to the next non-empty row's start (empty
    # rows between add nothing) and the last to the end. Sums in the data's own type are exact
    # for integer counts below 2**24 in float32 and 5x faster than converting every value to
    # float64; when a sum reaches 2**24 the chunk is summed again in float64.
    nonempty = np.diff(indptr) > 0
    out_lib[:] = 0.0
    if data.size:
        starts = indptr[:-1][nonempty]
        native = np.add.reduceat(data, starts)
        if data.dtype == np.float32 and float(native.max()) >= 2.0**24:
            native = np.add.reduceat(data, starts, dtype=np.float64)
        out_lib[nonempty] = native
    out_values[:] = 0.0
    if not targets_sorted.size or not data.size:
        return
    lut = np.full(max(n_cols, 1), -1, np.int32)
    lut[targets_sorted] = np.arange(targets_sorted.size, dtype=np.int32)
    hit = lut[indices]
    pos = np.flatnonzero(hit >= 0)
    if pos.size:
        rows = np.searchsorted(indptr, pos, side="right") - 1
        np.add.at(out_values, (rows, hit[pos]), data[pos])


@dataclass
class Matrix(ABC):
    """Samples x features with identifier columns; ``kind`` says bulk or single-cell."""

    def start_prefetch(self) -> None:  # noqa: B027 - a no-op unless the data stream from disk
        """Start reading ahead in the background, where the data come from disk."""

    source: str
    samples: np.ndarray
    feature_ids: dict[str, np.ndarray]  # identifier columns, the primary one first
    kind: Kind
    annotations: Annotations | None = None
    notes: list[str] = field(default_factory=list)
    # What the producer of the data recorded about its scale, when it did: scanpy's
    # ``uns["log1p"]`` means the values are log_b(x + 1) with b = ``log_base`` (e for
    # ``base: None``). None: nothing recorded, the scale is detected from the values.
    log_base: float | None = None
    # Where ``log_base`` was read (for the output's notes), e.g. "uns['log1p']".
    log_base_source: str = ""

    @property
    def n_samples(self) -> int:
        return int(self.samples.size)

    @property
    def n_features(self) -> int:
        return int(next(iter(self.feature_ids.values())).size)

    @abstractmethod
    def value_sample(self, n: int = 1_000_000) -> np.ndarray:
        """Up to ``n`` stored values, for deciding whether the data are counts, linear or log."""

    @abstractmethod
    def run_pass(self, cols: np.ndarray, want_ranks: bool) -> PassResult:
        """One pass over the data for the given feature columns (any order, repeats allowed)."""

    @property
    def nbytes(self) -> int:
        return 0


def _spread(res_sorted: PassResult, inverse: np.ndarray) -> PassResult:
    """Results for sorted unique columns back to the requested column order."""
    if np.array_equal(inverse, np.arange(inverse.size)):
        return res_sorted
    below = res_sorted.below[:, inverse] if res_sorted.below is not None else None
    return PassResult(res_sorted.values[:, inverse], res_sorted.lib, below)


def _empty(n: int, m: int, want_ranks: bool) -> PassResult:
    return PassResult(
        np.zeros((n, m), np.float32),
        np.zeros(n, np.float64),
        np.zeros((n, m), np.int32) if want_ranks else None,
    )


@dataclass
class DenseMatrix(Matrix):
    x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    def value_sample(self, n: int = 1_000_000) -> np.ndarray:
        flat = self.x.ravel()
        if flat.size <= n:
            return flat
        idx = np.random.default_rng(0).choice(flat.size, n, replace=False)
        return flat[idx]

    def run_pass(self, cols: np.ndarray, want_ranks: bool) -> PassResult:
        from ifnscope.signatures import kernels

        x = np.ascontiguousarray(self.x)
        res = _empty(self.n_samples, len(cols), want_ranks)
        dummy = res.below if res.below is not None else np.zeros((1, 1), np.int32)
        kernels.dense_pass(x, np.asarray(cols, np.int64), want_ranks, res.values, res.lib, dummy)
        return res

    @property
    def nbytes(self) -> int:
        return int(self.x.nbytes)


@dataclass
class CsrMatrix(Matrix):
    csr: Any = None  # scipy.sparse.csr_matrix / csr_array, samples x features

    def __post_init__(self) -> None:
        import scipy.sparse as sp

        if not sp.issparse(self.csr) or self.csr.format != "csr":
            self.csr = sp.csr_matrix(self.csr)
        X = self.csr
        # O(nnz) and no copy: the compiled pass trusts the structure, so a corrupt one (an
        # index past the last gene, a decreasing indptr) is refused here, before scoring.
        check_compressed(
            np.asarray(X.indptr),
            np.asarray(X.indices),
            int(X.data.size),
            int(X.shape[0]),
            int(X.shape[1]),
            file=self.source,
        )
        if X.shape[0] != self.samples.size or X.shape[1] != self.n_features:
            from ifnscope.errors import MatrixError

            raise MatrixError(
                f"the matrix is {X.shape[0]} x {X.shape[1]} but there are {self.samples.size} "
                f"samples and {self.n_features} features",
                file=self.source,
                code="matrix.corrupt",
            )

    def value_sample(self, n: int = 1_000_000) -> np.ndarray:
        d: np.ndarray = self.csr.data
        return d if d.size <= n else d[np.random.default_rng(0).choice(d.size, n, replace=False)]

    def run_pass(self, cols: np.ndarray, want_ranks: bool) -> PassResult:
        from ifnscope.signatures import kernels

        uniq, inverse = sort_targets(cols)
        res = _empty(self.n_samples, uniq.size, want_ranks)
        dummy = res.below if res.below is not None else np.zeros((1, 1), np.int32)
        X = self.csr
        kernels.csr_pass_checked(
            X.indptr, X.indices, X.data, X.shape[1], uniq, want_ranks, res.values, res.lib, dummy
        )
        return _spread(res, inverse)

    @property
    def nbytes(self) -> int:
        X = self.csr
        return int(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes)


def close_live_prefetches() -> None:
    """Stop every background reader (at exit, so none holds a file open)."""
    for p in list(_LIVE):
        p.close()


_LIVE: weakref.WeakSet[_Prefetch] = weakref.WeakSet()
atexit.register(close_live_prefetches)


class _Prefetch:
    """Reads CSR row chunks of an .h5ad in a background thread, two chunks ahead.

    h5py releases the GIL while HDF5 reads, so the disk read overlaps with everything else a
    run does before and during the pass (resolving genes, loading the compiled kernels,
    computing the previous chunk). At most two chunks wait in the queue.
    """

    def __init__(
        self, path: str, n_rows: int, chunk_rows: int, group: str = "X", n_cols: int = 0, indptr: Any = None
    ) -> None:
        import queue
        import threading

        self.group = group
        self.n_cols = n_cols
        self.given_indptr = indptr

        self.queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.indptr: np.ndarray | None = None
        self.first_data: np.ndarray | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, n_rows, chunk_rows), daemon=True)
        _LIVE.add(self)
        self._thread.start()

    def close(self) -> None:
        """Stop reading and wait for the reader to let go of the file.

        A reader blocked on a full queue would otherwise keep the HDF5 file open, and h5py's
        own exit handler then waits for it: a run that stops early (an error before the pass)
        must not hang at exit.
        """
        self._stop.set()
        self._thread.join(timeout=10)
        _LIVE.discard(self)

    def _put(self, item: Any) -> bool:
        """Queue an item unless stopped; False when the consumer went away."""
        import queue

        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, path: str, n_rows: int, chunk_rows: int) -> None:
        import h5py

        try:
            with read_errors(path, what=f"reading {self.group}: "), h5py.File(path, "r") as f:
                g = f[self.group]
                data_ds, idx_ds = g["data"], g["indices"]
                if self.given_indptr is not None:
                    self.indptr = np.asarray(self.given_indptr, dtype=np.int64)
                else:
                    self.indptr = np.asarray(g["indptr"][:], dtype=np.int64)
                    check_indptr(self.indptr, int(data_ds.shape[0]), int(idx_ds.shape[0]), n_rows, file=path)
                for start in range(0, n_rows, chunk_rows):
                    stop = min(start + chunk_rows, n_rows)
                    lo, hi = self.indptr[start], self.indptr[stop]
                    check_budget(float(hi - lo) * 12, f"rows {start}-{stop} ({hi - lo:,} values)", path)
                    idx = np.asarray(idx_ds[lo:hi])
                    if self.n_cols:  # the indices are checked chunk by chunk, as they are read
                        check_indices(idx, self.n_cols, file=path)
                    item = (start, stop, np.asarray(data_ds[lo:hi]), idx)
                    if self.first_data is None:
                        self.first_data = item[2][:1_000_000]
                        self._ready.set()
                    if not self._put(item):
                        return
        except BaseException as exc:  # hand the error to the consumer
            self.error = exc
            self._ready.set()
            self._put(exc)
            return
        finally:
            self._ready.set()
        self._put(None)

    def sample(self) -> np.ndarray:
        self._ready.wait()
        if self.error is not None and self.first_data is None:
            raise self.error  # e.g. a corrupt first chunk: say so, not "no values"
        return self.first_data if self.first_data is not None else np.zeros(0, np.float32)


@dataclass
class H5adStream(Matrix):
    """An .h5ad whose X (or a layer, or raw/X: ``group``) is CSR on disk, read in row chunks.

    ``indptr``, when the reader has already read and checked it, is not read again.
    """

    path: str = ""
    n_cols: int = 0
    chunk_rows: int = CHUNK_ROWS
    group: str = "X"
    indptr: Any = field(default=None, repr=False, compare=False)
    _prefetch: _Prefetch | None = field(default=None, init=False, repr=False, compare=False)

    def start_prefetch(self) -> None:
        """Begin reading row chunks in the background (the next ``run_pass`` consumes them)."""
        self._reader()

    def _reader(self) -> _Prefetch:
        """The background reader of the next pass, started on first need."""
        if self._prefetch is None:
            self._prefetch = _Prefetch(
                self.path, self.n_samples, self.chunk_rows, self.group, self.n_cols, self.indptr
            )
        return self._prefetch

    def value_sample(self, n: int = 1_000_000) -> np.ndarray:
        return self._reader().sample()[:n]

    def run_pass(self, cols: np.ndarray, want_ranks: bool) -> PassResult:
        """Consume the prefetched chunks. Without ranks the pass is plain numpy: the run is bound
        by the disk read, numpy needs no compiled-kernel load (numba's import and cache load cost
        ~1.2 s per process) and releases the GIL, so each chunk is computed while the next is
        read. Rank scores need the compiled kernel."""
        pre, self._prefetch = self._reader(), None  # one pass consumes one prefetch
        try:
            return self._consume(pre, cols, want_ranks)
        finally:
            pre.close()

    def _consume(self, pre: _Prefetch, cols: np.ndarray, want_ranks: bool) -> PassResult:
        uniq, inverse = sort_targets(cols)
        res = _empty(self.n_samples, uniq.size, want_ranks)
        if want_ranks:
            from ifnscope.signatures import kernels
        while True:
            item = pre.queue.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            start, stop, data, idx = item
            assert pre.indptr is not None
            local = pre.indptr[start : stop + 1] - pre.indptr[start]
            if not want_ranks:
                csr_values_numpy(
                    local, idx, data, self.n_cols, uniq, res.values[start:stop], res.lib[start:stop]
                )
                continue
            assert res.below is not None
            kernels.csr_pass_checked(
                local,
                idx,
                data,
                self.n_cols,
                uniq,
                want_ranks,
                res.values[start:stop],
                res.lib[start:stop],
                res.below[start:stop],
            )
        return _spread(res, inverse)

"""Reading record files: the one reader of ``requests.csv`` and ``decisions.csv``.

The schema (field names, and the type each reads back as) is :mod:`harness.rundir`'s:
:data:`~harness.rundir.REQUEST_FIELDS`, :data:`~harness.rundir.DECISION_FIELDS`,
:data:`~harness.rundir.FIELD_DTYPES`. Reading ten million requests and their decisions as pandas
objects would cost about 7 GB, so :func:`read_columns` reads with ``pyarrow.csv`` directly:

- only the columns it needs; repeated strings (``served_by``, ``user_id``, outcomes...) as
  categoricals (dictionary-encoded block by block against one dictionary);
- ``request_id`` kept as a pyarrow string array beside the frame (it is only joined on);
- a torn last line is cut off by a reader that stops at the last newline, streaming the file
  rather than loading it into memory.

:func:`read_frame` is the same reader for every column (``request_id`` as a pandas string
column): :meth:`RunDir.read_requests` and :meth:`RunDir.read_decisions`, for a person or a test
looking at a run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.rundir import DECISION_FIELDS, FIELD_DTYPES, REQUEST_FIELDS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DECISION_COLUMNS", "REQUEST_COLUMNS", "read_columns", "read_frame"]

#: Columns of requests.csv that analysis reads (``request_id`` comes back separately).
REQUEST_COLUMNS: tuple[str, ...] = (
    "ts", "latency_ms", "status", "ok", "served_by", "fallback", "fallback_reason", "route",
    "request_id", "user_id", "endpoint", "correct", "worker",
)  # fmt: skip
#: Columns of decisions.csv that analysis reads.
DECISION_COLUMNS: tuple[str, ...] = tuple(f for f in DECISION_FIELDS if f != "pattern")

_FLOATS = {f for f, t in FIELD_DTYPES.items() if t == "float64"}
_INTS = {f: t for f, t in FIELD_DTYPES.items() if t.startswith("int")}
_STRINGS = {f for f, t in FIELD_DTYPES.items() if t == "string"}  # the rest: categoricals

assert set(REQUEST_COLUMNS) <= set(REQUEST_FIELDS)


class _UpToLastNewline(io.RawIOBase):
    """A file read only up to ``limit`` bytes (the end of its last complete line)."""

    def __init__(self, path: Path, limit: int) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        want = min(len(view), self._left)
        if want <= 0:
            return 0
        n = self._fh.readinto(view[:want]) or 0
        self._left -= n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _complete_length(path: Path) -> int:
    """Bytes up to and including the last newline."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                return start + nl + 1
            pos = start
    return 0


def _arrow_type(column: str) -> Any:
    import pyarrow as pa

    if column in _FLOATS:
        return pa.float64()
    if column in _INTS:
        return getattr(pa, _INTS[column])()
    return pa.string()


def _empty(columns: Sequence[str]) -> tuple[pd.DataFrame, Any]:
    import pandas as pd
    import pyarrow as pa

    frame = pd.DataFrame(
        {
            c: pd.Series(dtype="float64" if c in _FLOATS else _INTS.get(c, "category"))
            for c in columns
            if c not in _STRINGS
        }
    )
    return frame, pa.array([], type=pa.string())


def _count_lines(path: Path, end: int) -> int:
    """Newlines in the first ``end`` bytes (an upper bound on the rows: one is the header)."""
    n = 0
    with open(path, "rb") as fh:
        left = end
        while left > 0:
            chunk = fh.read(min(left, 16 << 20))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


class _Categories:
    """Codes of one categorical column, filled block by block against one dictionary."""

    def __init__(self, capacity: int) -> None:
        import numpy as np

        self.index: dict[str, int] = {"": 0}
        self.codes = np.zeros(capacity, dtype=np.int32)

    def put(self, at: int, column: Any) -> None:
        """Store the codes of one block's strings from row ``at``."""
        import numpy as np
        import pyarrow.compute as pc

        enc = pc.dictionary_encode(pc.fill_null(column, ""))
        values = enc.dictionary.to_pylist()  # the block's distinct strings: few
        lut = np.array([self.index.setdefault(v, len(self.index)) for v in values], dtype=np.int32)
        idx = enc.indices.to_numpy(zero_copy_only=False)
        self.codes[at : at + len(idx)] = lut[idx] if len(lut) else 0

    def finish(self, n: int) -> pd.Categorical:
        """The first ``n`` rows as a categorical with the narrowest code type."""
        import numpy as np
        import pandas as pd

        k = len(self.index)
        dtype = np.int8 if k < 2**7 else np.int16 if k < 2**15 else np.int32
        codes = self.codes[:n].astype(dtype)
        del self.codes
        return pd.Categorical.from_codes(codes, categories=list(self.index))


def read_columns(path: Path, columns: Sequence[str]) -> tuple[pd.DataFrame, Any]:
    """``columns`` of a record file as a DataFrame, and its ``request_id`` column as one pyarrow
    string array (empty when absent). Missing columns read as empty.

    The file is parsed in blocks straight into arrays sized by a first pass that counts lines,
    so memory holds the compact result and one block, never the text or a second copy."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if not path.is_file() or path.stat().st_size == 0:
        return _empty(columns)
    end = _complete_length(path)
    if end == 0:
        return _empty(columns)
    capacity = _count_lines(path, end)
    source: Any = str(path)
    if end < path.stat().st_size:
        source = io.BufferedReader(_UpToLastNewline(path, end), buffer_size=1 << 20)
    numeric = {
        c: np.zeros(capacity, dtype=_INTS.get(c, "float64"))
        for c in columns
        if c in _FLOATS or c in _INTS
    }
    cats = {c: _Categories(capacity) for c in columns if c not in numeric and c not in _STRINGS}
    ids: list[Any] = []
    n = 0
    # The system allocator hands big blocks back to the OS when freed; arrow's default pool
    # keeps them, which would leave the text's memory resident for the rest of the analysis.
    pool = pa.default_memory_pool()
    try:
        reader = pacsv.open_csv(
            source,
            memory_pool=pool,
            read_options=pacsv.ReadOptions(block_size=8 << 20),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(columns),
                include_missing_columns=True,
                column_types={c: _arrow_type(c) for c in columns},
                strings_can_be_null=False,
            ),
        )
        for batch in reader:
            rows = batch.num_rows
            for name in columns:
                col = batch.column(name)
                if name in _STRINGS:
                    ids.append(col.cast(pa.string()))
                elif name in cats:
                    cats[name].put(n, col.cast(pa.string()))
                elif name in _INTS:
                    arr = pc.fill_null(col.cast(getattr(pa, _INTS[name])()), 0)
                    numeric[name][n : n + rows] = arr.to_numpy(zero_copy_only=False)
                else:
                    vals = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
                    numeric[name][n : n + rows] = vals
            n += rows
    finally:
        if not isinstance(source, str):
            source.close()
    data: dict[str, Any] = {}
    for name in columns:
        if name in numeric:
            data[name] = numeric.pop(name)[:n]
        elif name in cats:
            data[name] = cats.pop(name).finish(n)
    frame = pd.DataFrame(data, copy=False)
    one = pa.concat_arrays(ids, memory_pool=pool) if ids else pa.array([], type=pa.string())
    ids.clear()
    return frame, one


def read_frame(path: Path, fields: Sequence[str]) -> pd.DataFrame:
    """Every one of ``fields`` of a record file as one DataFrame in file order, typed by
    :data:`~harness.rundir.FIELD_DTYPES` (``request_id`` as a pandas ``string`` column)."""
    frame, ids = read_columns(path, fields)
    if "request_id" in fields:
        frame["request_id"] = ids.to_pandas(types_mapper=lambda _: _string_dtype())
    return frame[list(fields)]


def _string_dtype() -> Any:
    import pandas as pd

    return pd.StringDtype()

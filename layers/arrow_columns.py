"""Arrow arrays to and from NumPy through their buffers.

``pyarrow.array``, ``pyarrow.scalar`` and ``Array.to_numpy`` import pandas the first time they run (≈0.25 s of
CPU): reason enough for a command that reads a million points and writes them back in about a second to build its
columns from buffers instead. Only plain columns are handled here (numbers and booleans with an optional
validity mask, small lists of strings, dictionary columns); anything else goes through pyarrow as usual.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def bitmap(valid: np.ndarray | None) -> pa.Buffer | None:
    """Arrow's validity bitmap of a boolean mask (None when every value is valid)."""
    if valid is None or valid.all():
        return None
    return pa.py_buffer(np.packbits(np.asarray(valid, bool), bitorder="little"))


def from_numpy(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A numeric or boolean NumPy array as an Arrow array (null where ``valid`` is False)."""
    values = np.ascontiguousarray(values)
    n = values.size
    nulls = 0 if valid is None else int(n - np.count_nonzero(valid))
    if values.dtype == np.bool_:
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), n, [bitmap(valid), data], null_count=nulls)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), n, [bitmap(valid), pa.py_buffer(values)],
                                 null_count=nulls)


def strings(values: list[str | None]) -> pa.Array:
    """A list of strings (``None`` for null) as an Arrow string array."""
    encoded = [b"" if v is None else str(v).encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    valid = np.asarray([v is not None for v in values], bool)
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [bitmap(valid), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
                                 null_count=int(len(encoded) - valid.sum()))


def dictionary(index: np.ndarray, labels: pa.Array, valid: np.ndarray | None = None) -> pa.DictionaryArray:
    """Rows ``index`` of ``labels`` (null where ``valid`` is False) as a dictionary column: the strings are not
    copied per row."""
    index = np.where(valid, index, 0) if valid is not None else index
    return pa.DictionaryArray.from_arrays(from_numpy(index.astype(np.int32), valid), labels)


def constant(value: int | None, n: int) -> pa.Array:
    """``n`` copies of an integer (or ``n`` nulls) as int64."""
    if value is None:
        return pa.nulls(n, pa.int64())
    return from_numpy(np.full(n, value, np.int64))


def to_numpy(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric column without nulls as a NumPy array (a view of its buffer when it has one chunk)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if column.null_count:
        raise ValueError("column has nulls")
    if pa.types.is_boolean(column.type):
        bits = np.unpackbits(np.frombuffer(column.buffers()[1], np.uint8), bitorder="little")
        return bits[column.offset:column.offset + len(column)].astype(bool)
    t = column.type
    kind = "f" if pa.types.is_floating(t) else "i" if pa.types.is_signed_integer(t) else "u"
    data = np.frombuffer(column.buffers()[1], np.dtype(f"{kind}{t.bit_width // 8}"))
    return data[column.offset:column.offset + len(column)]


def values_and_valid(column: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column's values (whatever is stored under a null) and its validity as a boolean mask."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    valid = np.ones(len(column), bool)
    if column.null_count:
        bits = np.unpackbits(np.frombuffer(column.buffers()[0], np.uint8), bitorder="little")
        valid = bits[column.offset:column.offset + len(column)].astype(bool)
    plain = pa.Array.from_buffers(column.type, len(column), [None, column.buffers()[1]], offset=column.offset)
    return to_numpy(plain), valid

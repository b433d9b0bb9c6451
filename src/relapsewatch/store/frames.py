"""Derived frames <-> database rows, exactly: column order, dtypes and values survive the trip.

The documented columns of a derived table (DESIGN "Derived tables") go to typed SQL columns when
the engine's dtype fits them; every other column goes to the row's ``details`` as canonical JSON.
The frame's schema (columns in order, each dtype as JSON) is stored once per patient and frame,
so :func:`decode_frame` rebuilds the frame the engine returned.

The same canonical encoding gives each row's ``text`` (:class:`EncodedRow`), from which the
course digest is computed: equal frames give equal bytes (RELIABILITY E7).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy import Boolean, Date, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase

from relapsewatch.errors import SchemaError

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

__all__ = [
    "EncodedRow",
    "decode_frame",
    "dtype_from_json",
    "dtype_to_json",
    "encode_frame",
    "frame_schema_json",
    "stored_schema",
    "typed_columns",
]

_SIMPLE: dict[str, type[pl.DataType]] = {
    cls.__name__: cls
    for cls in (
        pl.Boolean,
        pl.Int8,
        pl.Int16,
        pl.Int32,
        pl.Int64,
        pl.UInt8,
        pl.UInt16,
        pl.UInt32,
        pl.UInt64,
        pl.Float32,
        pl.Float64,
        pl.String,
        pl.Date,
        pl.Time,
        pl.Null,
        pl.Categorical,
    )
}
_MICROSECOND = dt.timedelta(microseconds=1)


def _instance(dtype: PolarsDataType) -> pl.DataType:
    return dtype() if isinstance(dtype, type) else dtype


def dtype_to_json(dtype: PolarsDataType) -> Any:
    """A JSON-able description of a polars dtype (read back by :func:`dtype_from_json`).

    >>> dtype_to_json(pl.List(pl.String()))
    ['List', 'String']
    >>> dtype_from_json(dtype_to_json(pl.Datetime("us", "UTC")))
    Datetime(time_unit='us', time_zone='UTC')
    """
    dtype = _instance(dtype)
    if isinstance(dtype, pl.List):
        return ["List", dtype_to_json(dtype.inner)]
    if isinstance(dtype, pl.Datetime):
        return ["Datetime", dtype.time_unit, dtype.time_zone]
    if isinstance(dtype, pl.Duration):
        return ["Duration", dtype.time_unit]
    if isinstance(dtype, pl.Enum):
        return ["Enum", [str(c) for c in dtype.categories.to_list()]]
    if isinstance(dtype, pl.Struct):
        return ["Struct", [[f.name, dtype_to_json(f.dtype)] for f in dtype.fields]]
    name = type(dtype).__name__
    if name not in _SIMPLE:
        raise SchemaError(
            f"a derived column's dtype must be one the store can keep, got {dtype}; "
            "return a simple, list, struct or temporal dtype from the engine"
        )
    return name


def dtype_from_json(value: Any) -> pl.DataType:
    """The polars dtype described by :func:`dtype_to_json` (no ``eval``; unknown is an error)."""
    if isinstance(value, str) and value in _SIMPLE:
        return _SIMPLE[value]()
    if isinstance(value, list) and value:
        kind = value[0]
        if kind == "List":
            return pl.List(dtype_from_json(value[1]))
        if kind == "Datetime":
            return pl.Datetime(value[1], value[2])
        if kind == "Duration":
            return pl.Duration(value[1])
        if kind == "Enum":
            return pl.Enum(value[1])
        if kind == "Struct":
            return pl.Struct([pl.Field(n, dtype_from_json(d)) for n, d in value[1]])
    raise SchemaError(f"stored frame schema has an unknown dtype {value!r}; upgrade relapsewatch")


def _encode(value: Any, dtype: PolarsDataType) -> Any:
    if value is None:
        return None
    dtype = _instance(dtype)
    if isinstance(dtype, pl.List):
        return [_encode(v, dtype.inner) for v in value]
    if isinstance(dtype, pl.Struct):
        return {f.name: _encode(value.get(f.name), f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.Date | pl.Datetime | pl.Time):
        return value.isoformat()
    if isinstance(dtype, pl.Duration):
        return value // _MICROSECOND
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # 'nan', 'inf', '-inf': JSON has no literal for them
    return value


def _decode(value: Any, dtype: PolarsDataType) -> Any:
    if value is None:
        return None
    dtype = _instance(dtype)
    if isinstance(dtype, pl.List):
        return [_decode(v, dtype.inner) for v in value]
    if isinstance(dtype, pl.Struct):
        return {f.name: _decode(value.get(f.name), f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.Date):
        return dt.date.fromisoformat(value)
    if isinstance(dtype, pl.Datetime):
        return dt.datetime.fromisoformat(value)
    if isinstance(dtype, pl.Time):
        return dt.time.fromisoformat(value)
    if isinstance(dtype, pl.Duration):
        return value * _MICROSECOND
    if dtype.is_float() and isinstance(value, str):
        return float(value)
    return value


def _family(dtype: pl.DataType) -> str | None:
    if dtype.is_integer():
        return "integer"
    if isinstance(dtype, pl.Date):
        return "date"
    if isinstance(dtype, pl.String):
        return "text"
    if isinstance(dtype, pl.Boolean):
        return "boolean"
    return None


def _sql_family(column_type: Any) -> str | None:
    if isinstance(column_type, Integer):
        return "integer"
    if isinstance(column_type, Date):
        return "date"
    if isinstance(column_type, Boolean):
        return "boolean"
    if isinstance(column_type, String | Text):
        return "text"
    return None


_KEYS = ("patient_id", "seq", "details", "frame")


def typed_columns(model: type[DeclarativeBase], frame_schema: pl.Schema) -> list[str]:
    """The frame's columns that have a typed SQL column of the same kind in ``model``."""
    table = model.__table__
    typed = []
    for name, dtype in frame_schema.items():
        if name in _KEYS or name not in table.c:
            continue
        if _family(dtype) is not None and _family(dtype) == _sql_family(table.c[name].type):
            typed.append(name)
    return typed


def frame_schema_json(frame: pl.DataFrame) -> list[list[Any]]:
    """``[[column, dtype-json], ...]`` in the frame's column order."""
    return [[name, dtype_to_json(dtype)] for name, dtype in frame.schema.items()]


@dataclass(frozen=True, slots=True)
class EncodedRow:
    """One row of a derived frame ready for the database.

    ``text`` is the canonical JSON of everything stored for the row (typed values, then
    ``details``): the bytes the course digest covers.
    """

    patient_id: str
    typed: dict[str, Any]
    details: str
    text: str


def _column_encoder(dtype: pl.DataType) -> Callable[[Any], Any] | None:
    """A per-value JSON encoder, or ``None`` when the value is JSON-ready as it is."""
    if isinstance(dtype, pl.String | pl.Boolean | pl.Null | pl.Categorical | pl.Enum):
        return None
    if dtype.is_integer():
        return None
    return lambda value: _encode(value, dtype)


def encode_frame(frame: pl.DataFrame, typed: Sequence[str]) -> list[EncodedRow]:
    """Encode every row of a derived frame (all patients) in one pass, in frame order."""
    schema = frame.schema
    others = [c for c in frame.columns if c not in typed and c != "patient_id"]
    encoders = [(c, _column_encoder(schema[c])) for c in frame.columns]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode
    out = []
    for record in frame.iter_rows(named=True):
        plain = {c: record[c] if f is None else f(record[c]) for c, f in encoders}
        details = dumps({c: plain[c] for c in others})
        out.append(
            EncodedRow(
                patient_id=record["patient_id"],
                typed={c: record[c] for c in typed},
                details=details,
                text=dumps([plain[c] for c in typed]) + details,
            )
        )
    return out


def stored_schema(value: Sequence[Sequence[Any]]) -> pl.Schema:
    """The frame schema recorded by :func:`frame_schema_json`."""
    return pl.Schema([(name, dtype_from_json(dtype)) for name, dtype in value])


def decode_frame(
    schema: pl.Schema,
    rows: Sequence[Mapping[str, Any]],
    patient_id: str,
    typed: Sequence[str],
) -> pl.DataFrame:
    """Rebuild a frame from its stored schema and its database rows (ordered by ``seq``).

    ``typed`` must be what :func:`typed_columns` gave when the rows were stored (it depends only
    on the model and the schema, so the caller computes it again).
    """
    columns: dict[str, pl.Series] = {}
    details = [json.loads(r["details"]) for r in rows]
    for name, dtype in schema.items():
        if name == "patient_id":
            values: list[Any] = [patient_id] * len(rows)
        elif name in typed:
            values = [r[name] for r in rows]
        else:
            values = [_decode(d.get(name), dtype) for d in details]
        columns[name] = pl.Series(name, values, dtype=dtype, strict=True)
    return pl.DataFrame(columns, schema={n: s.dtype for n, s in columns.items()})

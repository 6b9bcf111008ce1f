"""Reading the run directory's CSV files with explicit types and one-line errors.

Every column is read with the dtype it must have. An empty cell means "not reported" and becomes
NaN; a cell that is there but is not what the column holds is an error naming the file, the column
and the row (rows are counted from 1 after the header, as a data row number). Only the columns the
analysis uses are parsed: extra columns are allowed, so older or newer run directories still load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

Kind = Literal["float", "int", "bool", "str", "category"]

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_READ_DTYPE: dict[Kind, str] = {
    "float": "float64",
    "int": "float64",
    "bool": "category",
    "str": "str",
    "category": "category",
}


@dataclass(frozen=True)
class Column:
    """One column the analysis reads: its type, and whether every row must have a value."""

    name: str
    kind: Kind
    required: bool = False
    # Added to the contract later: a run directory recorded before it has no such column, which then
    # reads as every cell empty (NaN, "", or False for a bool).
    added_later: bool = False


def read_table(path: Path, columns: Sequence[Column], contract: str, allow_empty: bool = False) -> pd.DataFrame:
    """Read `columns` of `path`, checked. `contract` names where the columns are defined, for messages.

    A file with a header and no rows is an error unless `allow_empty` (a run can end before any
    conversation does; it cannot have been analysed without a single request).

    Returns a frame with exactly these columns: floats as float64 (NaN = not reported), ints as
    int64 when required (float64 otherwise, for NaN), bools as bool, strings as str or category.
    """
    header = _header(path)
    for column in columns:
        if column.name not in header and not column.added_later:
            raise AnalysisError(f"{path}: column {column.name}: missing from the header (see {contract})")
    names = [c.name for c in columns]
    absent = [c for c in columns if c.name not in header]
    columns = [c for c in columns if c.name in header]
    try:
        frame = pd.read_csv(
            path,
            usecols=[c.name for c in columns],
            dtype={c.name: _READ_DTYPE[c.kind] for c in columns},
            keep_default_na=False,
            na_values=[""],
            engine="c",
        )
    except ValueError as exc:  # a cell that is not a number; pandas does not say which
        if isinstance(exc, pd.errors.ParserError):
            raise AnalysisError(f"{path}: {_one_line(exc)}; is it a complete CSV file?") from exc
        _raise_first_bad_number(path, [c.name for c in columns if c.kind in ("float", "int")])
        raise AnalysisError(f"{path}: {_one_line(exc)}") from exc
    if frame.empty and not allow_empty:
        raise AnalysisError(f"{path}: no rows after the header; the run recorded nothing to analyse")
    for column in columns:
        frame[column.name] = _checked(path, frame[column.name], column)
    for column in absent:
        frame[column.name] = _ABSENT[column.kind]
    return frame[names]


_ABSENT: dict[Kind, Any] = {"float": np.nan, "int": np.nan, "bool": False, "str": "", "category": ""}


def read_locust_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    """A Locust --csv file, untouched in format; only checks that `required` columns are there."""
    header = _header(path)
    for name in required:
        if name not in header:
            raise AnalysisError(f"{path}: column {name}: missing from the header (expected Locust 2.47 --csv output)")
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=["", "N/A"])
    except ValueError as exc:
        raise AnalysisError(f"{path}: {_one_line(exc)}; is it a complete CSV file?") from exc


def numeric_column(path: Path, frame: pd.DataFrame, name: str) -> pd.Series:
    """A column of an already-read file as float64, or an error naming the first bad row."""
    values = pd.to_numeric(frame[name], errors="coerce")
    bad = values.isna() & frame[name].notna() & (frame[name].astype(str) != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise AnalysisError(f"{path}: column {name}: not a number in row {row + 1}: {frame[name].iloc[row]!r}")
    return values.astype("float64")


def _header(path: Path) -> list[str]:
    if not path.is_file():
        raise AnalysisError(f"{path}: missing")
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError as exc:
        raise AnalysisError(f"{path}: empty file (no header row); the run did not finish writing it") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise AnalysisError(f"{path}: cannot read the header: {_one_line(exc)}") from exc


def _checked(path: Path, series: pd.Series, column: Column) -> Any:
    missing = series.isna()
    if column.required and missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise AnalysisError(f"{path}: column {column.name}: empty in row {row + 1}; every row needs a value")
    if column.kind == "bool":
        return _as_bool(path, series, column.name)
    if column.kind == "int":
        values = series.to_numpy(dtype=np.float64)
        fractional = ~np.isnan(values) & (values != np.round(values))
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise AnalysisError(f"{path}: column {column.name}: not a whole number in row {row + 1}: {values[row]}")
        return series.astype("int64") if column.required else series
    return series


def _as_bool(path: Path, series: pd.Series, name: str) -> pd.Series:
    categories = [str(c) for c in series.cat.categories]
    for category in categories:
        if category.lower() not in _TRUE | _FALSE:
            row = int(np.flatnonzero((series == category).to_numpy())[0])
            raise AnalysisError(f"{path}: column {name}: expected true or false, got {category!r} in row {row + 1}")
    # An empty cell (code -1) reads as False: the last entry of `truth`.
    truth = np.array([*(c.lower() in _TRUE for c in categories), False], dtype=bool)
    codes = series.cat.codes.to_numpy()
    return pd.Series(truth[codes], index=series.index)


def _raise_first_bad_number(path: Path, names: Sequence[str]) -> None:
    """Find the first cell that made the typed read fail, reading the numeric columns as text."""
    text = pd.read_csv(path, usecols=list(names), dtype=str, keep_default_na=False)
    for name in names:
        cells = text[name]
        present = cells != ""
        bad = present & pd.to_numeric(cells.where(present), errors="coerce").isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise AnalysisError(f"{path}: column {name}: not a number in row {row + 1}: {cells.iloc[row]!r}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())

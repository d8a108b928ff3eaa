"""Tabular imports (the 112 call log, training files): a CSV in whatever encoding and separator the export
tool wrote, or the sheets of an Excel workbook, read with pandas as text cells (nothing is guessed into
numbers or dates: a phone number keeps its leading 0).

    read_tables(data)                 -> [Table("csv", columns, rows)]
    read_tables(xlsx_bytes)           -> one Table per sheet
    read_tables(xlsx_bytes, "Maret")  -> that sheet only
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import pandas as pd

from domain.lifecycle import ValidationError

ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")  # UTF-8 (with or without BOM), then Windows' Western, then anything
SEPARATORS = ",;\t|"
XLSX = b"PK\x03\x04"  # an .xlsx is a zip archive
XLS = b"\xd0\xcf\x11\xe0"  # the old binary .xls (an OLE2 file)


@dataclass(frozen=True)
class Table:
    name: str  # "csv", or the sheet's name
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line or sheet row number, header -> cell text, "" when empty)
    too_long: list[list[str]] = field(default_factory=list)  # CSV lines with more cells than the header


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a CSV's bytes: the first of ENCODINGS that decodes it."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any byte")  # pragma: no cover


def read_tables(data: bytes, sheet: str | None = None) -> list[Table]:
    """The tables in `data`: a CSV, or every sheet (or the one named) of an .xlsx workbook. Raises
    ValidationError with a reason fit for a dead letter when the file cannot be read."""
    if data.startswith(XLS):
        raise ValidationError("file", "an old .xls workbook: save it as .xlsx or CSV")
    if data.startswith(XLSX):
        return _workbook(data, sheet)
    text, _ = decode(data)
    if not text.strip():
        raise ValidationError("file", "the file is empty")
    try:
        separator = csv.Sniffer().sniff(text.splitlines()[0], delimiters=SEPARATORS).delimiter
    except csv.Error:
        separator = ","
    bad: list[list[str]] = []
    header = next(csv.reader([text.splitlines()[0]], delimiter=separator), [])
    try:  # with the header named, a line with more cells is kept aside (never shifted into other columns)
        frame = pd.read_csv(io.StringIO(text), sep=separator, header=0, names=_unique(header), dtype=str,
                            keep_default_na=False, skipinitialspace=True, engine="python",
                            on_bad_lines=lambda cells: bad.append(cells))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise ValidationError("file", f"not a readable CSV: {exc}") from None
    return [_table("csv", frame, bad)]


def _unique(header: list[str]) -> list[str]:
    """Column names as pandas needs them: distinct (a repeated or empty header gets a suffix)."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        name = name.strip() or "Unnamed:"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}.{seen[name] - 1}")
    return out


def _workbook(data: bytes, sheet: str | None) -> list[Table]:
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=sheet if sheet is not None else None, dtype=str,
                               keep_default_na=False, engine="openpyxl")
    except (ValueError, KeyError) as exc:  # a missing sheet, a damaged archive
        raise ValidationError("sheet" if sheet else "file", f"cannot read the workbook: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - zipfile/openpyxl raise their own kinds for a broken file
        raise ValidationError("file", f"cannot read the workbook: {exc}") from None
    if isinstance(sheets, pd.DataFrame):
        sheets = {sheet: sheets}
    return [_table(str(name), frame) for name, frame in sheets.items()]


def _table(name: str, frame: pd.DataFrame, bad: list[list[str]] = ()) -> Table:
    """Headers trimmed (unnamed columns dropped), cells as text, rows with every cell empty left out; a row's
    number counts the header as row 1."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    frame = frame.loc[:, [c for c in frame.columns if c and not c.startswith("Unnamed:")]]
    rows = [(i + 2, row) for i, row in enumerate(frame.astype(str).to_dict("records"))
            if any(v.strip() for v in row.values())]
    return Table(name, list(frame.columns), rows, [list(map(str, cells)) for cells in bad])

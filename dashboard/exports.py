"""Tables the pages let people download (the supervisor's breach list), built with pandas from rows a
query already selected: CSV (UTF-8) and XLSX (one sheet, columns as wide as their values)."""
from __future__ import annotations

import io

import pandas as pd


def frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """The rows' `columns`, in that order (other keys left out), also when there is no row."""
    return pd.DataFrame(rows, columns=columns)


def to_csv(rows: list[dict], columns: list[str]) -> str:
    return frame(rows, columns).to_csv(index=False, lineterminator="\n")


def to_xlsx(rows: list[dict], columns: list[str], sheet: str = "SLA") -> bytes:
    out = io.BytesIO()
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        table = frame(rows, columns)
        table.to_excel(writer, sheet_name=sheet, index=False)
        cells = writer.sheets[sheet]
        for i, name in enumerate(columns):  # wide enough for the longest value
            width = max([len(str(name))] + [len(str(v)) for v in table[name].tolist()])
            cells.column_dimensions[cells.cell(row=1, column=i + 1).column_letter].width = min(60, width + 2)
    return out.getvalue()

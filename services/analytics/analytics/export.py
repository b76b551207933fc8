"""CSV and XLSX export of the dashboard tables (openpyxl). Pure: rows in, bytes out."""
from __future__ import annotations

import csv
import io
from typing import Mapping, Sequence

CSV_MIME = "text/csv; charset=utf-8"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _columns(rows: Sequence[Mapping]) -> list[str]:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


_CONTROL = dict.fromkeys([c for c in range(32) if c not in (9, 10, 13)] + [0x7f])


def _safe_text(value):
    """Citizen-written text made safe for a spreadsheet: control characters removed (XLSX cannot hold them: one
    title with ``\\x10`` made every export fail), and text starting with = + - @ prefixed with a quote (formula
    injection)."""
    if isinstance(value, str):
        value = value.translate(_CONTROL)
        if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
    return value


def to_csv(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> bytes:
    cols = list(columns or _columns(rows))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(cols)
    for r in rows:
        writer.writerow([_safe_text(_cell(r.get(c))) for c in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")   # BOM: Excel opens UTF-8 CSV correctly


def to_xlsx(sheets: Mapping[str, Sequence[Mapping]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(title=name[:31])
        cols = _columns(rows)
        ws.append(cols)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for r in rows:
            ws.append([_safe_text(_cell(r.get(c))) for c in cols])
        ws.freeze_panes = "A2"
    if not wb.sheetnames:
        wb.create_sheet("empty")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

"""Q&A sets as trainers' sheets: CSV and XLSX read in the trainer columns (`|` between list
entries, `title#section` for a source), and CSV written. A sheet is read only as far as its known
columns and ``MAX_ITEMS`` rows (a cell that claims column XFD is not padded out) and an XLSX may
unpack to at most 50 MB. A cell that a spreadsheet would run as a formula (starting with =, +, -,
@, a tab or a carriage return) is written with a leading ', which the reader removes again."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from evals.qaset.items import MAX_ITEMS, SHEET_COLUMNS, QASet, _build, _Errors
from ingest.loaders.base import check_unpacked_size, sheet_rows
from kb.errors import IngestError, ValidationError

MAX_XLSX_UNPACKED = 50 << 20
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _split(cell: Any) -> list[str]:
    return [p.strip() for p in str(cell or "").split("|") if p.strip()]


def _row_to_raw(row: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key, cell in row.items():
        key = (key or "").strip()
        if isinstance(cell, str):
            cell = cell.strip()
            if cell[:1] == "'" and cell[1:2] and cell[1:2] in _FORMULA_START:
                cell = cell[1:]  # the guard dump_qaset put before a formula-like cell
        if cell in (None, ""):
            continue
        if key in ("key_points", "tags"):
            raw[key] = _split(cell)
        elif key == "expected_sources":
            raw[key] = [dict(zip(("title", "section"), (x.strip() for x in p.split("#", 1)), strict=False))
                        for p in _split(cell)]
        elif key == "answerable":
            if isinstance(cell, bool):
                raw[key] = cell
            else:
                word = str(cell).strip().lower()
                truth = {"true": True, "yes": True, "1": True, "是": True, "y": True,
                         "false": False, "no": False, "0": False, "否": False, "n": False}
                raw[key] = truth.get(word, cell)
        elif key == "reviewed" and isinstance(cell, dt.datetime):
            raw[key] = cell.date().isoformat()
        else:
            raw[key] = cell if isinstance(cell, (str, dt.date)) else str(cell)
    return raw


def _parse_rows(rows: list[dict[str, Any]], header: list[str], name: str, source: str | None) -> QASet:
    errs = _Errors(source, "row")
    missing = [c for c in ("id", "question") if c not in header]
    if missing:
        errs.add(1, None, f"missing column(s): {', '.join(missing)} (columns: {', '.join(SHEET_COLUMNS)})")
    unknown = [c for c in header if c and c not in SHEET_COLUMNS]
    if unknown:
        errs.add(1, None, f"unknown column(s): {', '.join(unknown)} (columns: {', '.join(SHEET_COLUMNS)})")
    errs.raise_if_any()
    raws = [(_row_to_raw(r), {"": n}) for n, r in enumerate(rows, start=2) if any(v not in (None, "") for v in r.values())]
    return _build(name, "", raws, errs)


def _parse_csv(text: str, name: str, source: str | None) -> QASet:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])][: len(SHEET_COLUMNS) + 10]
    rows = []
    for row in reader:
        rows.append(row)
        if len(rows) > MAX_ITEMS:
            raise ValidationError(f"{source or 'sheet'}: a Q&A set holds at most {MAX_ITEMS:,} items")
    return _parse_rows(rows, header, name, source)


def _parse_xlsx(data: bytes, name: str, source: str | None) -> QASet:
    import openpyxl

    try:
        check_unpacked_size(data, source or "sheet", MAX_XLSX_UNPACKED)
    except IngestError as exc:
        raise ValidationError(str(exc)) from exc
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a bad file
        raise ValidationError(f"{source or 'sheet'}: not a readable XLSX workbook ({exc})") from exc
    try:
        # only the known columns (and a few more, to name unknown ones) and at most MAX_ITEMS rows
        rows = sheet_rows(wb.worksheets[0], source or "sheet", MAX_ITEMS, len(SHEET_COLUMNS) + 10)
    except IngestError as exc:
        raise ValidationError(f"{source or 'sheet'}: a Q&A set holds at most {MAX_ITEMS:,} items") from exc
    finally:
        wb.close()
    if not rows:
        raise ValidationError(f"{source or 'sheet'}: the first sheet is empty")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    dict_rows = [dict(zip(header, r, strict=False)) for r in rows[1:]]
    return _parse_rows(dict_rows, header, name, source)


def _no_formula(cell: str) -> str:
    """A cell a spreadsheet would run as a formula (=HYPERLINK(…), +cmd|…, @SUM…) is written with a
    leading ' so it opens as text (CSV formula injection); the importer takes the ' off again."""
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(_FORMULA_START) else cell


def dump_csv(qaset: QASet) -> str:
    """The set as CSV in the trainer columns (grades are not kept), formula-like cells guarded."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(SHEET_COLUMNS))
    w.writeheader()
    for i in qaset.items:
        w.writerow({k: _no_formula(v) for k, v in {
            "id": i.id, "question": i.question, "reference_answer": i.reference_answer,
            "key_points": "|".join(i.key_points),
            "expected_sources": "|".join(s.title + (f"#{s.section}" if s.section else "") for s in i.expected_sources),
            "answerable": "true" if i.answerable else "false", "topic": i.topic, "tags": "|".join(i.tags),
            "author": i.author, "reviewed": i.reviewed or "",
        }.items()})
    return buf.getvalue()

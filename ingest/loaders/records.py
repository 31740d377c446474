"""Record files: FAQs and past cases in .csv, .xlsx (openpyxl) or .jsonl.

FAQ columns: question, answer, optional similar_questions (a list in JSONL, "|"-separated in
CSV/XLSX), product, tags. Case columns: case_id, customer_issue, resolution, optional date,
category, product, outcome. Chinese headers are accepted (问题/答案/相似问题/产品/标签,
案例编号/日期/类别/产品/客户问题/处理结果/结果), in either script. The record type comes from the
columns unless ``kind`` ("faq" or "case") is given; a file with neither set of columns, or a
row without its required fields, is an IngestError that names what is missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

from ingest.clean import clean_inline
from ingest.loaders.base import (
    MAX_ROWS,
    Loaded,
    check_unpacked_size,
    decode,
    read_bytes,
    sheet_rows,
    too_many,
)
from kb.errors import IngestError
from kb.text.norm import to_simplified

FAQ_REQUIRED = ("question", "answer")
CASE_REQUIRED = ("case_id", "customer_issue", "resolution")
FAQ_FIELDS = (*FAQ_REQUIRED, "similar_questions", "product", "tags")
CASE_FIELDS = ("case_id", "date", "category", "product", "customer_issue", "resolution", "outcome")

ALIASES = {
    "问题": "question", "问": "question", "标准问题": "question",
    "答案": "answer", "答": "answer", "回答": "answer",
    "相似问题": "similar_questions", "相似问法": "similar_questions", "similar": "similar_questions",
    "产品": "product", "标签": "tags", "tag": "tags",
    "案例编号": "case_id", "案例id": "case_id", "编号": "case_id", "id": "case_id",
    "日期": "date", "类别": "category", "分类": "category",
    "客户问题": "customer_issue", "问题描述": "customer_issue", "issue": "customer_issue",
    "处理结果": "resolution", "处理过程": "resolution", "处理方式": "resolution",
    "结果": "outcome", "结论": "outcome",
}  # fmt: skip


def canonical_column(name: Any) -> str:
    key = to_simplified(unicodedata.normalize("NFKC", str(name or ""))).strip().lower().replace(" ", "_")
    return ALIASES.get(key, key)


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = re.split(r"[|｜]", str(value))
    return [clean_inline(v) for v in items if clean_inline(v)]


def _split_tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return _split_list(value)
    return [clean_inline(t) for t in re.split(r"[|｜,，;；]", str(value or "")) if clean_inline(t)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return clean_inline(str(value))


def detect_kind(columns: set[str], kind: str | None, name: str) -> str:
    missing_faq = [c for c in FAQ_REQUIRED if c not in columns]
    missing_case = [c for c in CASE_REQUIRED if c not in columns]
    if kind == "faq" and missing_faq:
        raise IngestError(f"{name}: not a FAQ file: missing column(s) {', '.join(missing_faq)}")
    if kind == "case" and missing_case:
        raise IngestError(f"{name}: not a case file: missing column(s) {', '.join(missing_case)}")
    if kind in ("faq", "case"):
        return kind
    if not missing_faq:
        return "faq"
    if not missing_case:
        return "case"
    raise IngestError(
        f"{name}: neither a FAQ file (missing column(s) {', '.join(missing_faq)}) "
        f"nor a case file (missing column(s) {', '.join(missing_case)})"
    )


def normalise_rows(rows: list[dict[str, Any]], kind: str | None, name: str) -> Loaded:
    """Canonical column names, record type, required fields checked; blank rows dropped."""
    rows = [{canonical_column(k): v for k, v in row.items()} for row in rows]
    rows = [r for r in rows if any(_text(v) for v in r.values() if not isinstance(v, list)) or any(
        isinstance(v, list) and v for v in r.values())]
    if not rows:
        raise IngestError(f"{name}: the file has no records")
    columns: set[str] = set().union(*(r.keys() for r in rows))
    kind = detect_kind(columns, kind, name)
    required = FAQ_REQUIRED if kind == "faq" else CASE_REQUIRED
    records: list[dict[str, Any]] = []
    for n, row in enumerate(rows, start=1):
        empty = [c for c in required if not _text(row.get(c))]
        if empty:
            raise IngestError(f"{name}: record {n} has no {', '.join(empty)}")
        if kind == "faq":
            rec = {
                "question": _text(row["question"]),
                "answer": _text(row["answer"]),
                "similar_questions": _split_list(row.get("similar_questions")),
                "product": _text(row.get("product")) or None,
                "tags": _split_tags(row.get("tags")),
            }
        else:
            rec = {c: _text(row.get(c)) or None for c in CASE_FIELDS}
        records.append(rec)
    return Loaded(format="", kind=kind, records=records)


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    text = decode(read_bytes(path), path.name)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    rows: list[dict[str, Any]] = []
    try:
        for row in reader:
            rows.append({k: v for k, v in row.items() if k is not None})
            if len(rows) > MAX_ROWS:
                too_many("rows", MAX_ROWS, path.name)
        return rows
    except csv.Error as exc:
        raise IngestError(f"{path.name}: malformed CSV at line {reader.line_num}: {exc}") from exc


def _xlsx_rows(path: Path) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    data = read_bytes(path)
    check_unpacked_size(data, path.name)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise IngestError(f"{path.name}: not a readable Excel workbook (.xlsx): {exc}") from exc
    try:
        rows = sheet_rows(wb.worksheets[0], path.name) if wb.worksheets else []
    finally:
        wb.close()
    if not rows:
        raise IngestError(f"{path.name}: the first sheet is empty")
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    return [{h: v for h, v in zip(header, row, strict=False) if h} for row in rows[1:]]


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    text = decode(read_bytes(path), path.name)
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(rows) >= MAX_ROWS:
            too_many("rows", MAX_ROWS, path.name)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(f"{path.name}: line {n} is not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise IngestError(f"{path.name}: line {n} is not a JSON object")
        rows.append(obj)
    return rows


def load_records(path: Path, fmt: str, kind: str | None = None) -> Loaded:
    rows = {"csv": _csv_rows, "xlsx": _xlsx_rows, "jsonl": _jsonl_rows}[fmt](path)
    loaded = normalise_rows(rows, kind if kind in ("faq", "case") else None, path.name)
    loaded.format = fmt
    return loaded

"""Q&A sets: the graded questions an evaluation runs.

One set is a YAML file (the format trainers edit), a JSON-lines file (one item per line, an
optional first line `{"name": ..., "description": ...}`), or a CSV/XLSX sheet trainers fill in
(imported, then saved as YAML). docs/evaluation.md describes every field.

Validation collects every problem with the line (YAML, JSONL) or row (CSV, XLSX) it is on and
raises one kb.errors.ValidationError; nothing is half-loaded. A set holds at most ``MAX_ITEMS``
items; a sheet is read only as far as its known columns and that many rows (a cell that claims
column XFD is not padded out), an XLSX may unpack to at most 50 MB, and YAML may not use anchors
or aliases (an alias bomb). In CSV written by ``dump_qaset`` a cell that a spreadsheet would run as
a formula (starting with =, +, -, @, a tab or a carriage return) is written with a leading ', which
the importer removes again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ingest.loaders.base import check_unpacked_size, sheet_rows
from ingest.loaders.text import load_yaml_without_aliases
from kb.errors import IngestError, ValidationError

GRADES = ("correct", "partial", "wrong")
FIELDS = (
    "id", "question", "reference_answer", "key_points", "expected_sources", "answerable",
    "topic", "tags", "author", "reviewed", "grades",
)
SHEET_COLUMNS = (
    "id", "question", "reference_answer", "key_points", "expected_sources", "answerable",
    "topic", "tags", "author", "reviewed",
)
FORMATS = ("yaml", "jsonl", "csv", "xlsx")
MAX_ITEMS = 5_000
MAX_XLSX_UNPACKED = 50 << 20
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class ExpectedSource:
    title: str = ""
    section: str = ""  # a substring of the chunk's section path
    chunk_id: str = ""

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


@dataclass
class QAItem:
    id: str
    question: str
    reference_answer: str = ""
    key_points: list[str] = field(default_factory=list)
    expected_sources: list[ExpectedSource] = field(default_factory=list)
    answerable: bool = True
    topic: str = ""
    tags: list[str] = field(default_factory=list)
    author: str = ""
    reviewed: str | None = None
    grades: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["expected_sources"] = [s.to_dict() for s in self.expected_sources]
        return d


@dataclass
class QASet:
    name: str
    description: str = ""
    items: list[QAItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "items": [i.to_dict() for i in self.items]}

    def item_rows(self, author: str) -> list[dict[str, Any]]:
        """The items as the records database stores them (kb.records add_items), `author` where none is named."""
        return [{"ext_id": i.id, "question": i.question, "reference_answer": i.reference_answer,
                 "key_points": i.key_points, "expected_sources": [s.to_dict() for s in i.expected_sources],
                 "answerable": i.answerable, "topic": i.topic or None, "tags": i.tags,
                 "author": i.author or author, "reviewed": i.reviewed, "grades": i.grades} for i in self.items]


class _Errors:
    """Collects problems, each with its location, and raises them together."""

    def __init__(self, source: str | None, unit: str):
        self.prefix = f"{source} " if source else ""
        self.unit = unit
        self.messages: list[str] = []

    def add(self, where: int | None, item_id: str | None, msg: str) -> None:
        loc = f"{self.unit} {where}: " if where else ""
        who = f"item {item_id}: " if item_id else ""
        self.messages.append(f"{self.prefix}{loc}{who}{msg}")

    def raise_if_any(self) -> None:
        if self.messages:
            more = f" ({len(self.messages)} problems)" if len(self.messages) > 1 else ""
            err = ValidationError("\n".join(self.messages) + more)
            err.errors = list(self.messages)  # type: ignore[attr-defined]
            raise err


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v)


def _parse_source(v: Any) -> ExpectedSource | None:
    if isinstance(v, str) and v.strip():
        return ExpectedSource(title=v.strip())
    if isinstance(v, dict) and set(v) <= {"title", "section", "chunk_id"}:
        if all(isinstance(x, str) for x in v.values()) and (v.get("title") or v.get("chunk_id")):
            return ExpectedSource(**{k: str(x).strip() for k, x in v.items()})
    return None


def _item_from_dict(raw: Any, idx: int, lines: dict[str, int], errs: _Errors) -> QAItem | None:
    """Validate one raw item; `lines` maps field names (and "" for the item itself) to locations."""
    where = lines.get("")
    if not isinstance(raw, dict):
        errs.add(where, f"#{idx + 1}", "must be a mapping of fields")
        return None
    rid = raw.get("id")
    item_id = rid.strip() if isinstance(rid, str) and rid.strip() else None
    label = item_id or f"#{idx + 1}"
    n_before = len(errs.messages)

    def bad(key: str, msg: str) -> None:
        errs.add(lines.get(key, where), label, msg)

    for key in raw:
        if key not in FIELDS:
            bad(key, f"unknown field {key!r} (fields: {', '.join(FIELDS)})")
    if item_id is None:
        bad("id", "id is required and must be a non-empty string")
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        bad("question", "question is required and must be a non-empty string")
    ref = raw.get("reference_answer", "") or ""
    if not isinstance(ref, str):
        bad("reference_answer", "reference_answer must be a string")
    kps = raw.get("key_points", []) or []
    if not _is_str_list(kps):
        bad("key_points", "key_points must be a list of strings")
        kps = []
    srcs_raw = raw.get("expected_sources", []) or []
    sources: list[ExpectedSource] = []
    if not isinstance(srcs_raw, list):
        bad("expected_sources", "expected_sources must be a list")
    else:
        for s in srcs_raw:
            parsed = _parse_source(s)
            if parsed is None:
                bad("expected_sources", "each expected source needs a title (and optional section) or a chunk_id")
            else:
                sources.append(parsed)
    answerable = raw.get("answerable", True)
    if not isinstance(answerable, bool):
        bad("answerable", "answerable must be true or false")
        answerable = True
    for key in ("topic", "author"):
        if raw.get(key) is not None and not isinstance(raw.get(key), str):
            bad(key, f"{key} must be a string")
    tags = raw.get("tags", []) or []
    if not _is_str_list(tags):
        bad("tags", "tags must be a list of strings")
        tags = []
    reviewed = raw.get("reviewed")
    if isinstance(reviewed, dt.date):
        reviewed = reviewed.isoformat()
    elif reviewed is not None and not isinstance(reviewed, str):
        bad("reviewed", "reviewed must be a date (yyyy-mm-dd)")
    grades = raw.get("grades", []) or []
    if not isinstance(grades, list) or not all(isinstance(g, dict) and g.get("grade") in GRADES for g in grades):
        bad("grades", f"grades must be a list of {{at, grade, by, note}} with grade one of {', '.join(GRADES)}")
        grades = []
    if answerable and not kps and not sources:
        bad("", "an answerable item needs key_points or expected_sources")
    if not answerable and (kps or sources):
        bad("", "an unanswerable item (answerable: false) must have no key_points and no expected_sources")
    if len(errs.messages) > n_before:
        return None
    grades = [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in g.items()} for g in grades]
    return QAItem(
        id=item_id or "", question=question.strip(), reference_answer=ref.strip(), key_points=list(kps),
        expected_sources=sources, answerable=answerable, topic=(raw.get("topic") or "").strip(),
        tags=list(tags), author=raw.get("author") or "", reviewed=reviewed, grades=grades,
    )


def _build(name: str, description: Any, raws: list[tuple[Any, dict[str, int]]], errs: _Errors) -> QASet:
    if len(raws) > MAX_ITEMS:
        raise ValidationError(f"{errs.prefix}a Q&A set holds at most {MAX_ITEMS:,} items")
    items: list[QAItem] = []
    seen: dict[str, int | None] = {}
    for idx, (raw, lines) in enumerate(raws):
        item = _item_from_dict(raw, idx, lines, errs)
        if item is None:
            continue
        if item.id in seen:
            first = f" (first at {errs.unit} {seen[item.id]})" if seen[item.id] else ""
            errs.add(lines.get("id", lines.get("")), item.id, f"duplicate id{first}")
            continue
        seen[item.id] = lines.get("id", lines.get(""))
        items.append(item)
    if not raws:
        errs.add(None, None, "the set has no items")
    errs.raise_if_any()
    return QASet(name=name, description=str(description or ""), items=items)


def _yaml_lines(text: str) -> list[dict[str, int]]:
    """1-based line of each item and of each of its fields, from the YAML node tree."""
    root = yaml.compose(text)
    out: list[dict[str, int]] = []
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value == "items" and isinstance(value, yaml.SequenceNode):
            for node in value.value:
                lines = {"": node.start_mark.line + 1}
                if isinstance(node, yaml.MappingNode):
                    for k, v in node.value:
                        lines[str(k.value)] = v.start_mark.line + 1
                out.append(lines)
    return out


def _parse_yaml(text: str, name: str | None, source: str | None) -> QASet:
    errs = _Errors(source, "line")
    try:
        data = load_yaml_without_aliases(text)
        lines = _yaml_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        errs.add(mark.line + 1 if mark else None, None, f"not valid YAML: {getattr(exc, 'problem', exc)}")
        errs.raise_if_any()
        raise  # unreachable
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        errs.add(None, None, "a Q&A set is a mapping with name, description and a list of items")
        errs.raise_if_any()
    raws = [(raw, lines[i] if i < len(lines) else {}) for i, raw in enumerate(data["items"])]
    return _build(str(data.get("name") or name or "qaset"), data.get("description"), raws, errs)


def _parse_jsonl(text: str, name: str | None, source: str | None) -> QASet:
    errs = _Errors(source, "line")
    raws: list[tuple[Any, dict[str, int]]] = []
    header: dict[str, Any] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errs.add(lineno, None, f"not valid JSON: {exc.msg}")
            continue
        if not raws and not header and isinstance(obj, dict) and "question" not in obj and "id" not in obj:
            header = obj
            continue
        raws.append((obj, {"": lineno}))
    errs.raise_if_any()
    return _build(str(header.get("name") or name or "qaset"), header.get("description"), raws, errs)


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


def parse_qaset(text: str | bytes, fmt: str, name: str | None = None, source: str | None = None) -> QASet:
    """Parse a Q&A set. fmt: yaml | jsonl | csv | xlsx (xlsx takes bytes). `source` prefixes errors."""
    if fmt not in FORMATS:
        raise ValidationError(f"unknown Q&A set format {fmt!r} (formats: {', '.join(FORMATS)})")
    if fmt == "xlsx":
        if not isinstance(text, bytes):
            raise ValidationError("an XLSX sheet must be given as bytes")
        return _parse_xlsx(text, name or "qaset", source)
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    if fmt == "yaml":
        return _parse_yaml(text, name, source)
    if fmt == "jsonl":
        if text.count("\n") > MAX_ITEMS + 1:
            raise ValidationError(f"{source or 'set'}: a Q&A set holds at most {MAX_ITEMS:,} items")
        return _parse_jsonl(text, name, source)
    return _parse_csv(text, name or "qaset", source)


def format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    fmt = {"yml": "yaml", "yaml": "yaml", "jsonl": "jsonl", "csv": "csv", "xlsx": "xlsx"}.get(suffix)
    if fmt is None:
        raise ValidationError(f"{path.name}: unknown Q&A set format (use .yaml, .jsonl, .csv or .xlsx)")
    return fmt


def load_qaset(path: str | Path) -> QASet:
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: no such Q&A set file")
    fmt = format_of(path)
    data = path.read_bytes()
    return parse_qaset(data if fmt == "xlsx" else data.decode("utf-8-sig"), fmt, name=path.stem, source=path.name)


def _no_formula(cell: str) -> str:
    """A cell a spreadsheet would run as a formula (=HYPERLINK(…), +cmd|…, @SUM…) is written with a
    leading ' so it opens as text (CSV formula injection); the importer takes the ' off again."""
    return f"'{cell}" if isinstance(cell, str) and cell.startswith(_FORMULA_START) else cell


def dump_qaset(qaset: QASet, fmt: str = "yaml") -> str:
    """The set as YAML, JSONL or CSV text (CSV keeps the trainer columns; grades are not kept)."""
    if fmt == "yaml":
        return yaml.safe_dump(qaset.to_dict(), allow_unicode=True, sort_keys=False, width=1000)
    if fmt == "jsonl":
        head = json.dumps({"name": qaset.name, "description": qaset.description}, ensure_ascii=False)
        return "\n".join([head] + [json.dumps(i.to_dict(), ensure_ascii=False) for i in qaset.items]) + "\n"
    if fmt == "csv":
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
    raise ValidationError(f"cannot write a Q&A set as {fmt!r} (yaml, jsonl or csv)")

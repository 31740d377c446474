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

The package: `items` (the item and set, and their validation), `sheets` (CSV and XLSX, read and
written); this module reads YAML and JSON lines and is what callers import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from evals.qaset.items import (
    FIELDS,
    FORMATS,
    GRADES,
    MAX_ITEMS,
    SHEET_COLUMNS,
    ExpectedSource,
    QAItem,
    QASet,
    _build,
    _Errors,
)
from evals.qaset.sheets import MAX_XLSX_UNPACKED, _parse_csv, _parse_xlsx, dump_csv
from ingest.loaders.text import load_yaml_without_aliases
from kb.errors import ValidationError

__all__ = [
    "FIELDS", "FORMATS", "GRADES", "MAX_ITEMS", "MAX_XLSX_UNPACKED", "SHEET_COLUMNS", "ExpectedSource",
    "QAItem", "QASet", "dump_qaset", "format_of", "load_qaset", "parse_qaset",
]


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


def dump_qaset(qaset: QASet, fmt: str = "yaml") -> str:
    """The set as YAML, JSONL or CSV text (CSV keeps the trainer columns; grades are not kept)."""
    if fmt == "yaml":
        return yaml.safe_dump(qaset.to_dict(), allow_unicode=True, sort_keys=False, width=1000)
    if fmt == "jsonl":
        head = json.dumps({"name": qaset.name, "description": qaset.description}, ensure_ascii=False)
        return "\n".join([head] + [json.dumps(i.to_dict(), ensure_ascii=False) for i in qaset.items]) + "\n"
    if fmt == "csv":
        return dump_csv(qaset)
    raise ValidationError(f"cannot write a Q&A set as {fmt!r} (yaml, jsonl or csv)")

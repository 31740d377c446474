"""A Q&A set's items and their validation: every problem is collected with the line or row it is
on and raised as one kb.errors.ValidationError, so nothing is half-loaded (evals.qaset reads the
formats into raw items, `_build` turns them into a QASet)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from kb.errors import ValidationError

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

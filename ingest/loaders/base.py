"""What every loader returns, and the pieces they share: decoding, Markdown-ish lines to blocks.

A loader turns a file into ``Loaded``: either ``blocks`` (headings and paragraphs, each with
the page it came from when the format has pages) for a document, or ``records`` for a FAQ or
case file. Document loaders first render their format as Markdown-ish text (``#`` headings,
one paragraph or table row per line); ``blocks_from_markdown`` then cleans it
(``ingest.clean.clean_text``) and cuts it into blocks, so every format is cleaned the same way.

Limits (``IngestError`` with a message naming the limit, before the work is done): a file may
hold at most ``MAX_PARAGRAPHS`` paragraphs and headings, ``MAX_PAGES`` PDF pages, ``MAX_ROWS``
records, and an Office file (.docx, .xlsx — zip archives) may unpack to at most ``MAX_UNPACKED``
bytes. A few kilobytes can otherwise describe millions of empty paragraphs or pages and hold the
server's single writer for minutes.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.clean import clean_inline, clean_text
from kb.errors import IngestError

MAX_PARAGRAPHS = 100_000
MAX_PAGES = 2_000
MAX_ROWS = 50_000
MAX_UNPACKED = 200 << 20  # bytes an Office file may unpack to
MAX_COLUMNS = 64  # columns of a spreadsheet that are read

_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_TABLE_RULE_RE = re.compile(r"^\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?$")  # | --- | :---: |


@dataclass
class Block:
    text: str
    level: int = 0  # 0 for body text, 1..6 for a heading
    page: int | None = None


@dataclass
class Loaded:
    format: str  # md, txt, html, docx, pdf, csv, xlsx, jsonl
    title: str | None = None
    kind: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    records: list[dict[str, Any]] | None = None  # FAQ or case records (kind says which)


def decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else GB18030; a binary file is an IngestError."""
    if not data.strip():
        raise IngestError(f"{name}: the file is empty")
    if b"\x00" in data[:8192]:
        raise IngestError(f"{name}: this looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{name}: the text is neither UTF-8 nor GB18030 ({exc.reason})") from exc


def blocks_from_markdown(text: str, page: int | None = None) -> list[Block]:
    """Clean Markdown-ish text and cut it into blocks: ``#`` lines are headings, every other
    non-empty line is a paragraph (line ends are paragraph ends in all our inputs)."""
    text = clean_text(_COMMENT_RE.sub("", text))
    lines = text.split("\n")
    if len(lines) > 2 * MAX_PARAGRAPHS:  # blank lines between paragraphs count half
        too_many("paragraphs", MAX_PARAGRAPHS)
    blocks: list[Block] = []
    for line in lines:
        if not line or _TABLE_RULE_RE.match(line):
            continue
        m = _HEADING_RE.match(line)
        if m:
            heading = clean_inline(m.group(2))
            if heading:
                blocks.append(Block(heading, level=len(m.group(1)), page=page))
        else:
            blocks.append(Block(line, page=page))
    return blocks


def too_many(what: str, limit: int, name: str = "the file") -> None:
    raise IngestError(f"{name}: more than {limit:,} {what}; split the file into smaller ones")


def check_unpacked_size(data: bytes, name: str, limit: int = MAX_UNPACKED) -> None:
    """Refuse an Office file (a zip archive) that would unpack to more than `limit` bytes, from its
    directory, before anything is unpacked. A file that is not a zip archive is left to its reader."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            total = sum(max(0, i.file_size) for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    if total > limit:
        raise IngestError(f"{name}: unpacks to {total / (1 << 20):,.0f} MB, more than the "
                          f"{limit >> 20} MB an Office file may hold")


def sheet_rows(ws: Any, name: str, max_rows: int = MAX_ROWS, max_cols: int = MAX_COLUMNS) -> list[tuple]:
    """The non-empty rows of a worksheet (header first), read only as wide as `max_cols`: a cell
    that claims column XFD is not padded out; more than `max_rows` rows after the header fail."""
    rows: list[tuple] = []
    for row in ws.iter_rows(max_col=max_cols, values_only=True):
        if any(v not in (None, "") for v in row):
            rows.append(row)
            if len(rows) > max_rows + 1:
                too_many("rows", max_rows, name)
    return rows


def first_heading(blocks: list[Block]) -> str | None:
    for b in blocks:
        if b.level:
            return b.text
    return None


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc

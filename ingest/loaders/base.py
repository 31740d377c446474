"""What every loader returns, and the pieces they share: decoding, Markdown-ish lines to blocks.

A loader turns a file into ``Loaded``: either ``blocks`` (headings and paragraphs, each with
the page it came from when the format has pages) for a document, or ``records`` for a FAQ or
case file. Document loaders first render their format as Markdown-ish text (``#`` headings,
one paragraph or table row per line); ``blocks_from_markdown`` then cleans it
(``ingest.clean.clean_text``) and cuts it into blocks, so every format is cleaned the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.clean import clean_inline, clean_text
from kb.errors import IngestError

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
    blocks: list[Block] = []
    for line in text.split("\n"):
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

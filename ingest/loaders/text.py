"""Markdown, plain text and HTML loaders, and YAML front matter.

Front matter (Markdown and .txt): a leading ``---`` … ``---`` YAML mapping with any of
``title``, ``kind`` (one of kb.types.KINDS), ``product``, ``version``, ``effective_date``,
``expiry_date`` (ISO dates or null) and ``tags`` (a list, or a comma-separated string). Other
keys are ignored. Bad YAML, a mapping that is not a mapping, an unknown kind or a date that is
not a date is an IngestError.

Statute files carry an info header that ends at ``<!-- INFO END -->``; its headings become the
title and its 施行 date the effective date (see ``ingest.clean.split_info_header``).
"""

from __future__ import annotations

import datetime as dt
import re
import reprlib
from pathlib import Path
from typing import Any

import yaml
from bs4 import BeautifulSoup, NavigableString

from ingest.clean import clean_inline, split_info_header
from ingest.loaders.base import Block, Loaded, blocks_from_markdown, decode, first_heading, read_bytes
from kb.errors import IngestError
from kb.text.pii import public_contact_key
from kb.types import KINDS

_FRONT_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
MAX_FRONT_MATTER = 16 * 1024  # characters; front matter is a handful of keys
_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlist, _short.maxlevel = 60, 60, 5, 2
FRONT_MATTER_KEYS = (
    "title", "kind", "product", "version", "effective_date", "expiry_date", "tags", "public_contacts",
)  # fmt: skip


def _date(value: Any, key: str, name: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise IngestError(f"{name}: front matter {key} must be a date like 2026-01-01, not {_short.repr(value)}")


def _tags(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [t.strip() for t in re.split(r"[,，;；]", value) if t.strip()]
    if isinstance(value, list) and all(isinstance(t, str | int | float) for t in value):
        return [str(t).strip() for t in value if str(t).strip()]
    raise IngestError(f"{name}: front matter tags must be a list of words, not {_short.repr(value)}")


def parse_front_matter(text: str, name: str) -> tuple[dict[str, Any], str]:
    """(validated front matter, the rest of the text); ({}, text) when there is none."""
    m = _FRONT_RE.match(text)
    if not m:
        return {}, text
    if len(m.group(1)) > MAX_FRONT_MATTER:
        raise IngestError(f"{name}: the front matter is longer than {MAX_FRONT_MATTER // 1024} KB")
    try:
        raw = load_yaml_without_aliases(m.group(1))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        why = f": {exc}" if "not allowed" in str(exc) else ""
        raise IngestError(f"{name}: the front matter is not valid YAML{line}{why}") from exc
    except ValueError as exc:  # PyYAML builds dates itself: 2026-13-45 fails here
        raise IngestError(f"{name}: the front matter has a date that is not a date ({exc})") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise IngestError(f"{name}: the front matter must be a mapping of keys to values")
    fm: dict[str, Any] = {}
    if raw.get("title") is not None:
        fm["title"] = clean_inline(str(raw["title"]))
    if raw.get("kind") is not None:
        kind = str(raw["kind"]).strip().lower()
        if kind not in KINDS:
            raise IngestError(f"{name}: front matter kind {raw['kind']!r} is not one of {', '.join(KINDS)}")
        fm["kind"] = kind
    for key in ("product", "version"):
        if raw.get(key) is not None:
            fm[key] = clean_inline(str(raw[key]))
    for key in ("effective_date", "expiry_date"):
        if key in raw:
            fm[key] = _date(raw[key], key, name)
    if fm.get("effective_date") and fm.get("expiry_date") and fm["expiry_date"] < fm["effective_date"]:
        raise IngestError(f"{name}: front matter expiry_date is before effective_date")
    if "tags" in raw:
        fm["tags"] = _tags(raw["tags"], name)
    if "public_contacts" in raw:
        fm["public_contacts"] = _public_contacts(raw["public_contacts"], name)
    return fm, text[m.end() :]


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors and aliases: front matter needs neither, and an alias
    bomb (a few hundred bytes of nested *aliases) expands to gigabytes once a value is used."""

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases (*{event.anchor}) are not allowed here")
        if getattr(self.peek_event(), "anchor", None):
            raise yaml.YAMLError(f"anchors (&{self.peek_event().anchor}) are not allowed here")
        return super().compose_node(parent, index)


def load_yaml_without_aliases(text: str) -> Any:
    """yaml.safe_load without anchors and aliases (yaml.YAMLError for a document that uses them)."""
    loader = _NoAliasLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _public_contacts(value: Any, name: str) -> list[str]:
    """The organisation's own published e-mail addresses ("@domain" for all of a domain) and phone
    numbers that appear in the document: ingest masks personal numbers, but not these."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str | int) for v in items):
        raise IngestError(f"{name}: front matter public_contacts must be a list of e-mail addresses or phone numbers")
    out = []
    for v in items:
        key = public_contact_key(str(v))
        if not (("@" in key and len(key) > 3) or len(key) >= 5):
            raise IngestError(f"{name}: front matter public_contacts: {v!r} is not an e-mail address, @domain or phone number")
        out.append(key)
    return out


def _is_title_line(line: str) -> bool:
    return 0 < len(line) <= 60 and not re.search(r"[。!?;,:，；：！？]", line)


def load_text(path: Path, fmt: str) -> Loaded:
    """Markdown or plain text, with optional front matter and statute info header."""
    text = decode(read_bytes(path), path.name)
    fm, text = parse_front_matter(text, path.name)
    info, text = split_info_header(text)
    blocks = blocks_from_markdown(text)
    if not blocks:
        raise IngestError(f"{path.name}: no text left after cleaning")
    if fmt == "txt" and blocks[0].level == 0 and _is_title_line(blocks[0].text):
        blocks[0].level = 1  # a plain-text document's short first line is its title
    loaded = Loaded(format=fmt, blocks=blocks, kind=fm.pop("kind", None))
    loaded.title = fm.pop("title", None) or (info.title if info else None) or first_heading(blocks)
    if info and info.effective_date and "effective_date" not in fm:
        loaded.meta["effective_date"] = info.effective_date
    loaded.meta.update(fm)
    return loaded


_BLOCK_TAGS = {
    "p", "div", "li", "tr", "pre", "blockquote", "dt", "dd", "br", "section", "article", "table",
    "ul", "ol", "main", "body", "figcaption", "caption",
}  # fmt: skip
_DROP_TAGS = ["script", "style", "nav", "footer", "noscript", "template", "iframe", "svg", "form", "aside"]


def html_to_markdown(html: str) -> tuple[str | None, str]:
    """(the page title, Markdown-ish text): headings become ``#`` lines, table rows ``a | b``."""
    soup = BeautifulSoup(html, "lxml")
    title = clean_inline(soup.title.get_text()) if soup.title else None
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    if soup.head:
        soup.head.decompose()
    for tr in soup.find_all("tr"):
        cells = [clean_inline(c.get_text(" ")) for c in tr.find_all(["td", "th"])]
        tr.replace_with(NavigableString("\n" + " | ".join(c for c in cells if c) + "\n"))
    for level in range(1, 7):
        for h in soup.find_all(f"h{level}"):
            h.replace_with(NavigableString(f"\n{'#' * level} {clean_inline(h.get_text(' '))}\n"))
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before(NavigableString("\n"))
        tag.insert_after(NavigableString("\n"))
    return title or None, soup.get_text()


def load_html(path: Path) -> Loaded:
    title, text = html_to_markdown(decode(read_bytes(path), path.name))
    blocks = blocks_from_markdown(text)
    if not blocks:
        raise IngestError(f"{path.name}: the page has no text")
    return Loaded(format="html", blocks=blocks, title=first_heading(blocks) or title)


__all__ = ["Block", "load_text", "load_html", "parse_front_matter", "html_to_markdown"]

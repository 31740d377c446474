"""Word (.docx, python-docx) and PDF (pypdf) loaders.

Word: heading styles (``Heading 1``…, ``标题 1``…) become headings, the ``Title`` style or the
core properties give the title, tables become one ``cell | cell`` line per row, in document
order. PDF: text per page; the page number travels with every block into chunk meta["page"].
Lines a PDF breaks inside a sentence are joined again; a line that ends a sentence ends a paragraph.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from ingest.clean import clean_inline
from ingest.loaders.base import (
    MAX_PAGES,
    MAX_PARAGRAPHS,
    Block,
    Loaded,
    blocks_from_markdown,
    check_unpacked_size,
    first_heading,
    read_bytes,
    too_many,
)
from kb.errors import IngestError

_HEADING_STYLE_RE = re.compile(r"^(?:heading|标题|標題)\s*(\d)", re.I)
_SENTENCE_END_RE = re.compile(r"[。!?;:！？；：.…\"”」』)]$")
_CJK_END_RE = re.compile(r"[\u3400-\u9fff，、（]$")
_PARAGRAPH_TAG = re.compile(rb"<w:p[ />]")


def _count_paragraphs(data: bytes) -> int:
    """Paragraph elements in the Word file's body, counted in its XML before it is parsed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z, z.open("word/document.xml") as f:
            count, tail = 0, b""
            while block := f.read(1 << 20):
                chunk = tail + block
                # a tag inside `tail` was counted with the block before
                count += len(_PARAGRAPH_TAG.findall(chunk)) - len(_PARAGRAPH_TAG.findall(tail))
                tail = chunk[-6:]
            return count
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return 0  # not a Word file: python-docx says so below


def load_docx(path: Path) -> Loaded:
    import docx  # python-docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    data = read_bytes(path)
    check_unpacked_size(data, path.name)
    if _count_paragraphs(data) > MAX_PARAGRAPHS:
        too_many("paragraphs", MAX_PARAGRAPHS, path.name)
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError(f"{path.name}: not a readable Word document (.docx): {exc}") from exc
    lines: list[str] = []
    title = (document.core_properties.title or "").strip() or None
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = clean_inline(cell.text)
                    if text and (not cells or cells[-1] != text):  # merged cells repeat their text
                        cells.append(text)
                if cells:
                    lines.append(" | ".join(cells))
            continue
        text = clean_inline(item.text)
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        m = _HEADING_STYLE_RE.match(style)
        if style.lower() == "title":
            title = title or text
            lines.append(f"# {text}")
        elif m:
            lines.append(f"{'#' * min(6, max(1, int(m.group(1))))} {text}")
        else:
            lines.append(text)
    blocks = blocks_from_markdown("\n".join(lines))
    if not blocks:
        raise IngestError(f"{path.name}: the Word document has no text")
    return Loaded(format="docx", blocks=blocks, title=title or first_heading(blocks))


def _join_pdf_lines(text: str) -> str:
    """Re-join lines the PDF layout broke inside a sentence; keep real paragraph ends.

    A line continues onto the next one when it does not end a sentence and runs (nearly) the full
    width of the page; a short line such as a heading ends its paragraph.
    """
    lines = [raw.strip() for raw in text.splitlines()]
    full = 0.6 * max((len(line) for line in lines), default=0)
    out: list[str] = []
    prev = ""
    for line in lines:
        if not line:
            if out and out[-1] != "":
                out.append("")
            prev = ""
            continue
        if prev and len(prev) >= full and not _SENTENCE_END_RE.search(prev) and not line.startswith("#"):
            sep = "" if _CJK_END_RE.search(prev) else " "
            out[-1] = out[-1] + sep + line
        else:
            out.append(line)
        prev = line
    return "\n".join(out)


def load_pdf(path: Path) -> Loaded:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    data = read_bytes(path)
    if not data.strip():
        raise IngestError(f"{path.name}: the file is empty")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError(f"{path.name}: the PDF is password-protected")
        if len(reader.pages) > MAX_PAGES:
            too_many("pages", MAX_PAGES, path.name)
        pages = []
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            if len(pages) > MAX_PAGES:  # a page tree whose count does not tell the truth
                too_many("pages", MAX_PAGES, path.name)
        meta_title = (reader.metadata.title if reader.metadata else None) or None
    except IngestError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"{path.name}: not a readable PDF: {exc}") from exc
    blocks: list[Block] = []
    for number, text in enumerate(pages, start=1):
        blocks.extend(blocks_from_markdown(_join_pdf_lines(text), page=number))
    if not blocks:
        raise IngestError(f"{path.name}: the PDF has no extractable text (a scanned image needs OCR first)")
    title = clean_inline(meta_title) if isinstance(meta_title, str) and meta_title.strip() else None
    return Loaded(format="pdf", blocks=blocks, title=title, meta={"pages": len(pages)})

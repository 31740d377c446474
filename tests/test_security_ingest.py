"""Hostile files at ingest, each reproduced: a YAML alias bomb in front matter, Office files and
PDFs that describe millions of paragraphs, pages or rows in a few kilobytes, personal numbers in a
file's name and title, raw HTML that would reach a reply."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from ingest.document import build_document
from ingest.loaders import load_file
from ingest.loaders.base import MAX_PAGES, MAX_PARAGRAPHS, MAX_ROWS, MAX_UNPACKED
from ingest.pipeline import ingest_bytes
from kb.errors import IngestError, clip
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.text.markup import strip_markup

BOMB = """---
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
title: [*g,*g,*g,*g,*g,*g,*g,*g,*g]
effective_date: [*g,*g,*g,*g,*g,*g,*g,*g,*g]
---
# 正文
"""


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_a_yaml_alias_bomb_in_front_matter_is_refused_at_once(tmp_path):
    assert len(BOMB) < 600
    with pytest.raises(IngestError, match="not allowed") as exc:
        load_file(_write(tmp_path, "bomb.md", BOMB))
    assert len(str(exc.value)) < 300  # the error does not quote the expanded value


def test_front_matter_is_capped_in_size(tmp_path):
    text = "---\ntitle: x\ntags: [" + ", ".join(["标签"] * 20_000) + "]\n---\n# 正文\n"
    with pytest.raises(IngestError, match="front matter is longer"):
        load_file(_write(tmp_path, "long.md", text))


def test_error_messages_are_cut_short():
    assert len(clip("x" * 10_000_000)) <= 2000
    assert clip("short") == "short"


def _docx(paragraphs: int) -> bytes:
    """A real Word file whose body holds `paragraphs` empty paragraphs (a few KB compressed)."""
    import docx

    buf = io.BytesIO()
    d = docx.Document()
    d.add_paragraph("标题")
    d.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + b"<w:p/>" * paragraphs, 1)
            z.writestr(item, data)
    return out.getvalue()


def test_a_docx_with_millions_of_empty_paragraphs_is_refused_before_it_is_parsed(tmp_path):
    data = _docx(3_000_000)
    assert len(data) < 100_000
    with pytest.raises(IngestError, match=f"more than {MAX_PARAGRAPHS:,} paragraphs"):
        load_file(_write(tmp_path, "empty.docx", data))
    assert load_file(_write(tmp_path, "ok.docx", _docx(10))).blocks  # an ordinary file still reads


def test_an_office_file_that_unpacks_to_too_much_is_refused(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/sharedStrings.xml", b" " * (MAX_UNPACKED + 1))
    data = out.getvalue()
    assert len(data) < 1_000_000
    with pytest.raises(IngestError, match="unpacks to"):
        load_file(_write(tmp_path, "bomb.xlsx", data))


def test_a_pdf_with_too_many_pages_is_refused(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(MAX_PAGES + 1):
        writer.add_blank_page(width=72, height=72)
    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(IngestError, match=f"more than {MAX_PAGES:,} pages"):
        load_file(_write(tmp_path, "pages.pdf", buf.getvalue()))


def test_record_files_are_capped_in_rows(tmp_path):
    rows = "question,answer\n" + "问,答\n" * (MAX_ROWS + 1)
    with pytest.raises(IngestError, match=f"more than {MAX_ROWS:,} rows"):
        load_file(_write(tmp_path, "faq.csv", rows))
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["question", "answer"])
    ws.cell(row=2, column=16384, value="far away")  # a cell in column XFD
    ws.cell(row=2, column=1, value="问")
    ws.cell(row=2, column=2, value="答")
    buf = io.BytesIO()
    wb.save(buf)
    loaded = load_file(_write(tmp_path, "wide.xlsx", buf.getvalue()))
    assert loaded.records[0]["question"] == "问"


def test_personal_numbers_in_a_file_name_and_title_are_masked_everywhere(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    text = "---\ntitle: 客户13911223344的投诉\n---\n# 处理记录\n\n客户来电投诉，已按流程处理并回访。\n"
    with KnowledgeBase.open(settings, writer=True) as kb:
        report = ingest_bytes(kb, "投诉_13911223344.md", text.encode("utf-8"))
        assert report.ok
        doc = kb.get_document(report.doc_ids[0])
        chunks = kb.chunks_of(doc.doc_id)
        hits = kb.search("13911223344")
    stored = repr((doc.title, doc.source, doc.meta, [(c.text, c.section, c.meta) for c in chunks]))
    assert "13911223344" not in stored
    assert doc.meta["personal_numbers"] >= 1
    assert not any("13911223344" in repr(h.chunk.meta) for h in hits)
    # nowhere on disk: catalog, vector store metadata, the BM25 vocabulary
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert b"13911223344" not in path.read_bytes(), path.relative_to(settings.data_dir)


def test_title_from_a_file_name_is_masked():
    from ingest.loaders.base import Block, Loaded

    loaded = Loaded(format="md", blocks=[Block("客户来电，已处理。")])
    doc, chunks = build_document(loaded, doc_id="d_x", source="upload:客户１３９１１２２３３４４.md")
    assert "１３９１１２２３３４４" not in doc.title + doc.source + repr(chunks[0].meta)


def test_raw_html_in_a_document_never_reaches_the_index(tmp_path):
    text = ("# 提前还款\n\n提前还款<b>不收</b>违约金。<img src=x onerror=alert(1)>"
            "<script>alert('x')</script>\n\n利率<5%的产品可随时还款。\n")
    loaded = load_file(_write(tmp_path, "html.md", text))
    body = " ".join(b.text for b in loaded.blocks)
    assert "<" not in body.replace("利率<5%", "") and "onerror" not in body and "alert" not in body
    assert "提前还款不收违约金。" in body and "利率<5%" in body


@pytest.mark.parametrize(("raw", "clean"), [
    ("<img src=x onerror=alert(1)>你好", "你好"), ("<svg/onload=alert(1)>好", "好"),
    ("<a href='javascript:x'>点此</a>", "点此"), ("a < b，利率<5%", "a < b，利率<5%"),
    ("<scr<script>ipt>alert(1)</script>好", "好"),
])
def test_markup_is_stripped_but_comparisons_stay(raw, clean):
    assert strip_markup(raw).replace("<scr", "") == clean

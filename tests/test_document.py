"""Document assembly: kinds, titles, chunk meta, FAQ/case chunk text, masking at ingest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.document import build_document, guess_kind
from ingest.loaders import load_file
from ingest.loaders.base import Block, Loaded
from kb.errors import IngestError
from kb.types import make_chunk_id

DATA = Path(__file__).resolve().parent / "data"
ID_NUMBER = "11010519491231002X"  # a checksum-valid resident ID (the standard's own example)
CARD = "6222021234567890128"  # Luhn-valid


def _build(loaded, **kw):
    return build_document(loaded, doc_id="d_test", source=kw.pop("source", "x.md"), **kw)


def test_product_document_meta_reaches_every_chunk():
    doc, chunks = _build(load_file(DATA / "product.md"), source="kb/product.md", content_hash="abc", pipeline_version="1")
    assert (doc.title, doc.kind) == ("测试贷产品说明", "product")
    assert doc.meta["content_hash"] == "abc" and doc.meta["pipeline_version"] == "1"
    assert doc.meta["source_key"] == "kb/product.md"
    assert [c.section for c in chunks] == ["利率与费用", "提前还款"]
    for i, c in enumerate(chunks):
        assert c.meta["ord"] == i
        assert c.chunk_id == make_chunk_id("d_test", c.text, c.section)
        for key, value in {"title": "测试贷产品说明", "kind": "product", "source": "kb/product.md", "product": "测试贷",
                           "version": "2026.1", "effective_date": "2026-01-01", "expiry_date": None,
                           "tags": ["个人信用贷款", "现金贷"], "page": None}.items():  # fmt: skip
            assert c.meta[key] == value, key
        assert doc.text[c.span[0] : c.span[1]].strip() == c.text


def test_kind_guess_and_override(corpora_dir):
    loaded = load_file(corpora_dir / "regulations_zh" / "征信业管理条例.md")
    assert _build(loaded)[0].kind == "regulation"
    assert _build(loaded, kind="other")[0].kind == "other"
    assert guess_kind([Block("一、总则(一)目的:规范。(二)范围:全体。")]) == "procedure"
    assert guess_kind([Block("我们的公司成立于2010年。"), Block("欢迎来访。")]) == "other"
    with pytest.raises(IngestError, match="unknown kind"):
        _build(loaded, kind="brochure")


def test_title_falls_back_to_file_name():
    doc, _ = _build(Loaded(format="txt", blocks=[Block("只有一句正文,没有标题。")]), source="docs/notice_2026.txt")
    assert doc.title == "notice_2026"


def test_faq_chunks_with_keys_and_product():
    doc, chunks = _build(load_file(DATA / "faq_zh.csv"), source="faq_zh.csv")
    assert doc.kind == "faq" and doc.title == "常见问题：faq_zh"
    first = chunks[0]
    assert first.text == "问：随心贷可以提前还款吗?\n答：可以,借款满6期后提前还款免收手续费。"
    assert first.meta["keys"] == ["随心贷可以提前还款吗?", "能提前还吗", "可以提前结清吗"]
    assert first.meta["record"] == "faq" and first.meta["product"] == "随心贷"
    assert first.meta["tags"] == ["还款", "提前还款"]
    assert first.section == "随心贷可以提前还款吗?"


def test_case_chunks_read_like_a_case_and_personal_numbers_are_masked():
    doc, chunks = _build(load_file(DATA / "cases.jsonl"), source="cases.jsonl")
    assert doc.kind == "case" and doc.title == "历史案例"
    first = chunks[0]
    assert first.text.startswith("案例 CY-T-001（2026-03-02，还款，随心贷）\n客户问题：")
    assert "处理结果：核实银行卡余额不足" in first.text and first.text.endswith("结果：已解决")
    assert CARD not in first.text and "[银行卡号]" in first.text
    assert "13812345678" not in first.text and "[手机号]" in first.text
    assert CARD not in doc.text and "13812345678" not in doc.text
    assert (first.meta["record"], first.meta["case_id"], first.meta["outcome"]) == ("case", "CY-T-001", "已解决")


def test_document_text_is_masked_too(tmp_path):
    path = tmp_path / "note.md"
    path.write_text(f"# 回访记录\n\n客户身份证{ID_NUMBER},邮箱 someone@example.com,已核实。", encoding="utf-8")
    doc, chunks = _build(load_file(path))
    for text in (doc.text, *(c.text for c in chunks)):
        assert ID_NUMBER not in text and "someone@example.com" not in text
    assert "[身份证号]" in chunks[0].text and "[邮箱]" in chunks[0].text


def test_published_contacts_in_front_matter_stay_readable(tmp_path):
    path = tmp_path / "complaints.md"
    path.write_text(
        "---\ntitle: 投诉处理\npublic_contacts: [complaint@lender.example, 13900001234]\n---\n"
        "# 投诉渠道\n\n投诉邮箱complaint@lender.example，投诉专线13900001234。"
        "客户王某留下的邮箱wang@example.com和手机13812345678不得外传。",
        encoding="utf-8",
    )
    doc, chunks = _build(load_file(path))
    for text in (doc.text, chunks[0].text):
        assert "complaint@lender.example" in text and "13900001234" in text
        assert "wang@example.com" not in text and "13812345678" not in text
    for bad in ["{a: 1}", "[not-a-contact]"]:
        path.write_text(f"---\npublic_contacts: {bad}\n---\n# 投诉\n\n正文。", encoding="utf-8")
        with pytest.raises(IngestError, match="public_contacts"):
            load_file(path)


def test_the_demo_complaint_procedure_gives_its_mailbox():
    path = Path(__file__).resolve().parent.parent / "bundles" / "demo" / "documents" / "procedures" / "complaint_handling.md"
    _, chunks = _build(load_file(path))
    channels = next(c for c in chunks if c.section.endswith("投诉渠道"))
    assert "投诉邮箱complaint@chengyuan-cf.example" in channels.text


def test_identical_paragraphs_do_not_produce_duplicate_chunk_ids():
    blocks = [Block("A", level=2), Block("同样的一句话。"), Block("B", level=2), Block("同样的一句话。")]
    _, chunks = _build(Loaded(format="md", blocks=blocks))
    assert len({c.chunk_id for c in chunks}) == len(chunks) == 2


def test_pdf_page_numbers_reach_chunk_meta():
    blocks = [Block("Repayment", level=1, page=1), Block("Customers can repay early. " * 30, page=1),
              Block("Late payment", level=1, page=2), Block("A grace period of three days applies.", page=2)]  # fmt: skip
    doc, chunks = _build(Loaded(format="pdf", blocks=blocks, meta={"pages": 2}), source="policy.pdf")
    assert doc.meta["pages"] == 2
    assert [(c.section, c.meta["page"]) for c in chunks] == [("Repayment", 1), ("Late payment", 2)]

"""Chunking: statute articles, the one-line policy outline of the seed, size limits, sentence ends."""

from __future__ import annotations

import re

import pytest

from ingest.chunking import MAX_CHARS, chunk_blocks, section_string
from ingest.loaders import load_file
from ingest.loaders.base import Block, blocks_from_markdown

SENTENCE_END = tuple("。!?;:)”」』")
ARTICLE = re.compile(r"^(第[零〇一二三四五六七八九十百千两\d]+条)")


def _ends_cleanly(text: str, piece) -> bool:
    """A piece ends at a sentence end or at the end of a paragraph (a line end)."""
    return piece.text.endswith(SENTENCE_END) or piece.end >= len(text) or text[piece.end] == "\n"


def _chunks(path):
    loaded = load_file(path)
    return chunk_blocks(loaded.blocks, loaded.title)


def _regulations(corpora_dir):
    files = sorted((corpora_dir / "regulations_zh").glob("*.md"))
    assert len(files) == 13
    return files


def test_every_article_of_every_regulation_is_its_own_chunk(corpora_dir):
    for path in _regulations(corpora_dir):
        raw = path.read_text(encoding="utf-8").split("<!-- INFO END -->", 1)[1]
        headings: list[tuple[int, str]] = []
        expected = []  # (article label, heading path in force)
        for line in raw.splitlines():
            m = re.match(r"^(#+)\s+(.*)$", line)
            if m:
                level = len(m.group(1))
                headings = [h for h in headings if h[0] < level] + [(level, " ".join(m.group(2).split()))]
            m = ARTICLE.match(line)
            if m:
                expected.append((m.group(1), " > ".join(h for _, h in headings)))
        text, pieces = _chunks(path)
        articles = [p for p in pieces if p.section and ARTICLE.match(p.section[-1])]
        labels = [p.section[-1] for p in articles]
        assert labels == [label for label, _ in expected], path.name  # one chunk each, in order
        for piece, (label, heading_path) in zip(articles, expected, strict=True):
            assert piece.text.startswith(label), (path.name, label)
            assert section_string(piece.section).startswith(heading_path), (path.name, piece.section)
            assert re.findall(ARTICLE.pattern, piece.text, re.M) == [label]  # never two articles in one chunk
        for piece in pieces:
            assert len(piece.text) <= MAX_CHARS, (path.name, piece.section)
            assert _ends_cleanly(text, piece), (path.name, piece.section, piece.text[-20:])
            assert text[piece.start : piece.end].strip() == piece.text


def test_statute_section_paths(corpora_dir):
    reg = corpora_dir / "regulations_zh"
    _, pieces = _chunks(reg / "民法典_合同编_第十二章_借款合同.md")
    by_section = {section_string(p.section): p for p in pieces}
    art = by_section["第十二章 借款合同 > 第六百七十条"]
    assert art.text.startswith("第六百七十条 借款的利息不得预先在本金中扣除。")
    # an article with continuation paragraphs keeps them
    assert "借款合同对支付利息没有约定的,视为没有利息。" in by_section["第十二章 借款合同 > 第六百八十条"].text
    _, pieces = _chunks(reg / "最高人民法院关于适用民法典有关担保制度的解释.md")
    sections = [section_string(p.section) for p in pieces]
    assert "三、关于担保物权 > (二)不动产抵押 > 第四十六条" in sections
    # the listed items (一)(二)(三) of an article stay inside it
    art4 = next(p for p in pieces if p.section[-1:] == ("第四条",))
    assert "(一)为债券持有人提供的担保物权" in art4.text and "(三)担保人知道" in art4.text


def test_seed_outline_on_one_line_becomes_sections(seed_file):
    text, pieces = _chunks(seed_file)
    tops = {p.section[0] for p in pieces}
    assert tops == {"一、總則", "二、人員管理", "三、客服工作事項管理", "四、財務管理", "五、物資管理", "六、信息管理",
                    "七、安全管理", "八、企業文化建設"}  # fmt: skip
    assert ("二、人員管理", "(一)客服人員招聘與選拔") in {p.section[:2] for p in pieces}
    for p in pieces:
        assert 80 <= len(p.text) <= 600, (p.section, len(p.text))
        assert _ends_cleanly(text, p), p.text[-20:]
        assert "信貸公司智能客服管理規定" not in section_string(p.section)  # the title is not a section
    covered = "".join(p.text for p in pieces)
    assert "3.客戶投訴處理:建立客戶投訴快速響應機制" in covered  # nothing of the body is lost
    assert len(covered) >= len(text) - len("信貸公司智能客服管理規定") - 5


def test_long_article_is_split_between_sentences_and_keeps_its_section():
    sentence = "借款人应当按照约定的期限返还借款并支付利息,贷款人应当按照约定提供借款。"
    body = "第九条 " + sentence * 40  # about 1,500 characters
    text, pieces = chunk_blocks([Block("第一章 总则"), Block(body), Block("第十条 本规定自公布之日起施行。")])
    parts = [p for p in pieces if p.section == ("第一章 总则", "第九条")]
    assert len(parts) >= 3
    assert all(len(p.text) <= MAX_CHARS and p.text.endswith("。") for p in parts)
    assert "".join(p.text for p in parts) == body
    assert pieces[-1].section == ("第一章 总则", "第十条")


def test_markdown_headings_and_tiny_sibling_merge():
    md = (
        "# 还款指引\n\n## 还款渠道\n\n### App还款\n\n在App内点击立即还款。\n\n### 银行卡代扣\n\n还款日自动扣款。\n\n"
        "## 提前还款\n\n" + "提前还款需要在App中申请,系统显示应还本金和利息。" * 8
    )
    text, pieces = chunk_blocks(blocks_from_markdown(md), "还款指引")
    sections = [section_string(p.section) for p in pieces]
    assert sections == ["还款渠道", "提前还款"]  # two tiny subsections merged under their parent
    assert "在App内点击立即还款。" in pieces[0].text and "还款日自动扣款。" in pieces[0].text


@pytest.mark.parametrize(
    "line",
    ["年化利率为7.2%–18%,逾期罚息上浮50%。", "详见第一、二项的规定。", "版本2.0发布,费用(fee)不变。"],
)
def test_numbers_in_running_text_are_not_outline_markers(line):
    _, pieces = chunk_blocks([Block(line)])
    assert len(pieces) == 1 and pieces[0].section == () and pieces[0].text == line


def test_pdf_pages_travel_with_pieces():
    blocks = [Block("第一条 总则内容。", page=1), Block("第二条 第二页的内容。", page=2)]
    _, pieces = chunk_blocks(blocks)
    assert [(p.section[-1], p.page) for p in pieces] == [("第一条", 1), ("第二条", 2)]


def test_traditional_script_legal_outline():
    blocks = [Block("第一編 總則"), Block("第一章 基本規定"), Block("第一條 為了保護當事人的合法權益,制定本法。"),
              Block("第二節 其他"), Block("第二條 本法自公布之日起施行。")]  # fmt: skip
    _, pieces = chunk_blocks(blocks)
    assert [section_string(p.section) for p in pieces] == [
        "第一編 總則 > 第一章 基本規定 > 第一條", "第一編 總則 > 第一章 基本規定 > 第二節 其他 > 第二條"]


def test_english_paragraphs_split_at_sentence_ends():
    paragraph = " ".join(f"Sentence number {i} explains one rule of early repayment in detail." for i in range(40))
    text, pieces = chunk_blocks([Block("Early repayment", level=2), Block(paragraph)])
    assert len(pieces) >= 3 and all(len(p.text) <= MAX_CHARS for p in pieces)
    assert all(p.text.endswith("detail.") and p.section == ("Early repayment",) for p in pieces)

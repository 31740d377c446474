"""Loaders: every supported format, front matter, encodings, record files and their failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.loaders import load_file
from kb.errors import IngestError

DATA = Path(__file__).resolve().parent / "data"


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


# -- Markdown and text ---------------------------------------------------------------------------


def test_markdown_front_matter_sets_title_kind_and_meta():
    loaded = load_file(DATA / "product.md")
    assert loaded.title == "测试贷产品说明"
    assert loaded.kind == "product"
    assert loaded.meta == {
        "product": "测试贷", "version": "2026.1", "effective_date": "2026-01-01", "expiry_date": None,
        "tags": ["个人信用贷款", "现金贷"],
    }  # fmt: skip
    assert [(b.level, b.text) for b in loaded.blocks if b.level] == [(1, "测试贷产品说明"), (2, "利率与费用"), (2, "提前还款")]
    assert not any("---" in b.text or "kind:" in b.text for b in loaded.blocks)


def test_markdown_table_rule_lines_are_dropped(tmp_path):
    path = _write(tmp_path, "fees.md", "# 费用\n\n| 项目 | 金额 |\n| --- | :---: |\n| 提前还款 | 2% |\n\n---\n\n例如139****5678。")
    assert [b.text for b in load_file(path).blocks] == ["费用", "| 项目 | 金额 |", "| 提前还款 | 2% |", "例如139****5678。"]


def test_markdown_without_front_matter_takes_first_heading_as_title(tmp_path):
    path = _write(tmp_path, "guide.md", "前言一句。\n\n## 第一部分\n\n正文。")
    assert load_file(path).title == "第一部分"
    path = _write(tmp_path, "notes.md", "只有正文,没有标题。")
    assert load_file(path).title is None  # the document builder falls back to the file name


@pytest.mark.parametrize(
    "front, message",
    [
        ("title: [unclosed", "not valid YAML"),
        ("kind: brochure", "kind 'brochure' is not one of"),
        ("effective_date: 2026-13-45", "a date that is not a date"),
        ("effective_date: next monday", "effective_date must be a date"),
        ("- just\n- a list", "must be a mapping"),
        ("effective_date: 2026-05-01\nexpiry_date: 2026-01-01", "expiry_date is before effective_date"),
    ],
)
def test_bad_front_matter_is_an_ingest_error(tmp_path, front, message):
    path = _write(tmp_path, "bad.md", f"---\n{front}\n---\n# 标题\n\n正文。")
    with pytest.raises(IngestError, match=message) as err:
        load_file(path)
    assert "bad.md" in str(err.value)


def test_text_encodings_utf8_bom_and_gb18030(tmp_path):
    body = "客服管理规定\n一、总则(一)目的:规范客服工作。"
    bom = load_file(_write(tmp_path, "bom.txt", "\ufeff".encode() + body.encode("utf-8")))
    gb = load_file(_write(tmp_path, "gb.txt", body.encode("gb18030")))
    for loaded in (bom, gb):
        assert loaded.title == "客服管理规定"
        assert loaded.blocks[1].text == "一、总则(一)目的:规范客服工作。"


def test_text_with_front_matter(tmp_path):
    path = _write(tmp_path, "p.txt", "---\nkind: procedure\ntags: 投诉, 升级\n---\n投诉处理\n先安抚客户情绪。")
    loaded = load_file(path)
    assert loaded.kind == "procedure" and loaded.meta["tags"] == ["投诉", "升级"] and loaded.title == "投诉处理"


def test_statute_header_gives_title_and_effective_date(corpora_dir):
    loaded = load_file(corpora_dir / "regulations_zh" / "民法典_合同编_第十二章_借款合同.md")
    assert loaded.title == "中华人民共和国民法典 合同编"
    assert loaded.meta["effective_date"] == "2021-01-01"
    assert loaded.blocks[0].text == "第十二章 借款合同"


@pytest.mark.parametrize("name, content", [("empty.md", b""), ("blank.txt", b"  \n\n "), ("nul.txt", b"abc\x00\x01def")])
def test_empty_and_binary_text_files_are_refused(tmp_path, name, content):
    with pytest.raises(IngestError, match="empty|binary"):
        load_file(_write(tmp_path, name, content))


def test_unsupported_extension(tmp_path):
    with pytest.raises(IngestError, match="unsupported file type .rtf"):
        load_file(_write(tmp_path, "x.rtf", "{\\rtf1}"))


# -- HTML, Word, PDF -----------------------------------------------------------------------------


def test_html_drops_navigation_scripts_and_footer_and_keeps_structure():
    loaded = load_file(DATA / "page.html")
    texts = [b.text for b in loaded.blocks]
    assert loaded.title == "还款指引"
    assert [(b.level, b.text) for b in loaded.blocks if b.level] == [(1, "还款指引"), (2, "还款渠道"), (2, "扣款失败")]
    assert "客户可以在App内主动还款。" in texts  # inline markup does not split a paragraph
    assert "渠道 | 到账时间" in texts and "App | 实时" in texts
    assert "余额不足时请客户充值后重试。" in texts
    joined = "\n".join(texts)
    for junk in ("不要索引我", "color:red", "帮助中心", "版权所有"):
        assert junk not in joined


def test_docx_headings_and_tables(tmp_path):
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.add_heading("征信异议处理流程", level=0)
    document.add_heading("受理异议", level=1)
    document.add_paragraph("客户可通过客服热线提出征信异议。")
    document.add_heading("核查时限", level=2)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "环节", "时限"
    table.cell(1, 0).text, table.cell(1, 1).text = "核查", "10个工作日"
    document.add_paragraph("核查结果以短信告知。")
    path = tmp_path / "objection.docx"
    document.save(path)
    loaded = load_file(path)
    assert loaded.format == "docx" and loaded.title == "征信异议处理流程"
    assert [(b.level, b.text) for b in loaded.blocks] == [
        (1, "征信异议处理流程"), (1, "受理异议"), (0, "客户可通过客服热线提出征信异议。"), (2, "核查时限"),
        (0, "环节 | 时限"), (0, "核查 | 10个工作日"), (0, "核查结果以短信告知。"),
    ]  # fmt: skip


def _pdf(path: Path, pages: list[list[str]]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_pdf_text_per_page_with_page_numbers(tmp_path):
    path = _pdf(
        tmp_path / "policy.pdf",
        [
            ["Repayment policy", "", "Customers can repay early at any time in the app", "without any fee."],
            ["Late payment", "", "A grace period of three days applies.", "After that, penalty interest is charged."],
            ["Credit reporting", "", "Overdue loans are reported monthly."],
        ],
    )
    loaded = load_file(path)
    assert loaded.format == "pdf" and loaded.meta["pages"] == 3
    pages = {b.text: b.page for b in loaded.blocks}
    # a sentence the layout broke over two lines is one paragraph again
    assert pages["Customers can repay early at any time in the app without any fee."] == 1
    assert pages["Repayment policy"] == 1  # a short heading line is not glued to the paragraph
    assert pages["A grace period of three days applies."] == 2
    assert pages["Overdue loans are reported monthly."] == 3


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf", "not readable|no extractable text|not a readable PDF"),
        ("fake.docx", b"PK\x03\x04 not a zip at all", "not a readable Word document"),
        ("plain.docx", "这是文本文件,不是Word。".encode(), "not a readable Word document"),
        ("broken.xlsx", b"garbage", "not a readable Excel workbook"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_corrupt_binary_files_are_ingest_errors(tmp_path, name, content, message):
    with pytest.raises(IngestError, match=message) as err:
        load_file(_write(tmp_path, name, content))
    assert name in str(err.value)


# -- record files --------------------------------------------------------------------------------


def test_faq_csv_with_chinese_headers():
    loaded = load_file(DATA / "faq_zh.csv")
    assert loaded.kind == "faq" and loaded.format == "csv"
    first = loaded.records[0]
    assert first["question"] == "随心贷可以提前还款吗?"
    assert first["similar_questions"] == ["能提前还吗", "可以提前结清吗"]
    assert first["product"] == "随心贷" and first["tags"] == ["还款", "提前还款"]
    assert loaded.records[1]["similar_questions"] == []


def test_case_jsonl():
    loaded = load_file(DATA / "cases.jsonl")
    assert loaded.kind == "case" and len(loaded.records) == 2
    assert loaded.records[1] == {
        "case_id": "CY-T-002", "date": "2026-04-10", "category": "投诉处理", "product": "乐享分期",
        "customer_issue": "客户投诉催收电话太频繁。", "resolution": "致歉并登记投诉工单,转贷后管理部核查。",
        "outcome": "客户满意",
    }  # fmt: skip


def test_faq_jsonl_similar_questions_as_list(tmp_path):
    row = {"question": "怎么改绑银行卡?", "answer": "在App中操作。", "similar_questions": ["换卡", "更换还款卡"]}
    loaded = load_file(_write(tmp_path, "faq.jsonl", json.dumps(row, ensure_ascii=False) + "\n"))
    assert loaded.records[0]["similar_questions"] == ["换卡", "更换还款卡"]


def test_xlsx_faq_and_case(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["案例编号", "日期", "类别", "产品", "客户问题", "处理结果", "结果"])
    ws.append(["CY-X-1", "2026-02-01", "征信", "车主贷", "征信显示逾期有误。", "提交征信异议,10个工作日内答复。", "已更正"])
    ws.append([None] * 7)  # blank rows are ignored
    wb.save(tmp_path / "cases.xlsx")
    loaded = load_file(tmp_path / "cases.xlsx")
    assert loaded.kind == "case" and loaded.format == "xlsx"
    assert [r["case_id"] for r in loaded.records] == ["CY-X-1"]
    assert loaded.records[0]["outcome"] == "已更正"

    wb = Workbook()
    wb.active.append(["question", "answer", "similar_questions"])
    wb.active.append(["能分期吗?", "可以,3到24期。", "可以分几期|分期期数"])
    wb.save(tmp_path / "faq.xlsx")
    assert load_file(tmp_path / "faq.xlsx").records[0]["similar_questions"] == ["可以分几期", "分期期数"]


def test_record_file_with_wrong_columns_names_what_is_missing(tmp_path):
    path = _write(tmp_path, "notes.csv", "title,body\nA,B\n")
    with pytest.raises(IngestError) as err:
        load_file(path)
    message = str(err.value)
    assert "notes.csv" in message and "question, answer" in message and "case_id, customer_issue, resolution" in message


def test_kind_option_picks_and_checks_the_record_type(tmp_path):
    path = _write(tmp_path, "both.csv", "question,answer,case_id,customer_issue,resolution\nQ,A,C1,I,R\n")
    assert load_file(path).kind == "faq"
    assert load_file(path, kind="case").kind == "case"
    with pytest.raises(IngestError, match="not a case file: missing column"):
        load_file(DATA / "faq_zh.csv", kind="case")


def test_record_problems(tmp_path):
    with pytest.raises(IngestError, match="record 2 has no answer"):
        load_file(_write(tmp_path, "f.csv", "question,answer\nQ1,A1\nQ2,\n"))
    with pytest.raises(IngestError, match="line 2 is not valid JSON"):
        load_file(_write(tmp_path, "c.jsonl", '{"question": "q", "answer": "a"}\n{broken\n'))
    with pytest.raises(IngestError, match="no records"):
        load_file(_write(tmp_path, "h.csv", "question,answer\n"))

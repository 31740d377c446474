import json

import pytest
from click.testing import CliRunner

from api.cli import main
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.types import Chunk, Document, make_chunk_id

ID_CARD = "11010519491231002X"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ask")
    texts = [
        ("第六百七十条", "第六百七十条 借款的利息不得预先在本金中扣除。利息预先在本金中扣除的，应当按照实际借款数额返还借款并计算利息。"),
        ("第六百七十六条", "第六百七十六条 借款人未按照约定的期限返还借款的，应当按照约定或者国家有关规定支付逾期利息。"),
    ]
    doc = Document("d_loan", "中华人民共和国民法典 合同编", "regulation", "loan.md", "\n".join(t for _, t in texts))
    chunks = [Chunk(make_chunk_id(doc.doc_id, t, s), doc.doc_id, t, section=s) for s, t in texts]
    with KnowledgeBase.open(Settings(data_dir=path), writer=True) as kb:
        kb.upsert_document(doc, chunks)
    return path


def run(*args):
    return CliRunner().invoke(main, ["ask", *args])


def test_json_contract(data_dir):
    result = run(f"我身份证{ID_CARD}，借钱时利息能先从本金里扣掉吗？", "--json", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert set(d) == {"question", "answer", "citations", "abstained", "abstain_reason", "confidence", "flags",
                      "dropped", "mode", "latency_ms", "reply", "guidance"}
    assert d["abstain_reason"] is None
    assert ID_CARD not in result.output and "[身份证号]" in d["question"] and "pii_masked" in d["flags"]
    assert d["abstained"] is False and d["mode"] == "extractive"
    assert "借款的利息不得预先在本金中扣除[1]" in d["answer"] and "借款的利息不得预先在本金中扣除[1]" in d["reply"]
    c = d["citations"][0]
    assert c["n"] == 1 and c["section"] == "第六百七十条" and c["title"] == "中华人民共和国民法典 合同编"
    assert set(c) == {"n", "chunk_id", "doc_id", "title", "section", "source", "quote", "version", "part"}


def test_human_output_lists_numbered_sources(data_dir):
    result = run("借钱时利息能先从本金里扣掉吗？", "--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    reply, _, rest = result.output.partition("\n\n")
    assert reply.startswith("您好，") and "[1]" in reply
    assert "[1] 中华人民共和国民法典 合同编 › 第六百七十条" in rest


def test_abstention_is_clear(data_dir):
    result = run("明天上海会下雨吗？", "--data-dir", str(data_dir))
    assert result.exit_code == 0
    assert "escalate" in result.output and "Closest sources" in result.output


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_an_error(data_dir, question):
    result = run(question, "--data-dir", str(data_dir))
    assert result.exit_code == 2
    assert "question is empty" in result.output

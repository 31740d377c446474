"""`citedesk search`, `stats`, `reindex`: the JSON contract and the error paths."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from api.cli import main
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.types import Chunk, Document, make_chunk_id, make_doc_id

DOCS = [
    ("repay.md", "还款规则", "procedure", {}, ["借款人可以在应用内申请提前还款，提前还款按实际借款天数计息。"]),
    ("card.md", "银行卡安全", "procedure", {}, ["持卡人发现银行卡被他人盗用，应立即致电客服挂失并向公安机关报案。"]),
    ("rates.md", "随心贷费率", "product", {"product": "随心贷"}, ["随心贷年化利率区间为7.2%至24%，以审批结果为准。"]),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("kbcli") / "data"
    with KnowledgeBase.open(Settings(data_dir=path), writer=True) as kb:
        for src, title, kind, meta, texts in DOCS:
            did = make_doc_id(src)
            doc = Document(did, title, kind, src, "\n".join(texts), meta)
            kb.upsert_document(doc, [Chunk(make_chunk_id(did, t, "第一条"), did, t, section="第一条") for t in texts])
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_search_json_contract(data_dir):
    res = run("search", "银行卡被盗刷了怎么办", "-k", 2, "--json", "--data-dir", data_dir)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"query", "results"} and out["query"] == "银行卡被盗刷了怎么办"
    assert [r["rank"] for r in out["results"]] == [1, 2]
    top = out["results"][0]
    assert set(top) == {"rank", "chunk_id", "doc_id", "title", "section", "source", "text", "score"}
    assert (top["title"], top["section"], top["source"]) == ("银行卡安全", "第一条", "card.md")
    assert 0.0 <= out["results"][1]["score"] <= top["score"] <= 1.0


def test_search_filters_by_kind_and_product(data_dir):
    out = json.loads(run("search", "利率是多少", "--kind", "procedure", "--json", "--data-dir", data_dir).output)
    assert out["results"] and all(r["title"] != "随心贷费率" for r in out["results"])
    out = json.loads(run("search", "利率是多少", "--product", "随心贷", "--json", "--data-dir", data_dir).output)
    assert [r["title"] for r in out["results"]] == ["随心贷费率"]


def test_human_output_shows_rank_score_title_section_and_snippet(data_dir):
    res = run("search", "提前还款怎么计息", "-k", 1, "--data-dir", data_dir)
    assert res.exit_code == 0
    assert "1. [" in res.output and "还款规则 › 第一条" in res.output and "提前还款" in res.output


def test_an_empty_question_is_an_error(data_dir):
    res = run("search", "  ", "--data-dir", data_dir)
    assert res.exit_code == 2 and "question is empty" in res.output


def test_stats_json(data_dir):
    out = json.loads(run("stats", "--json", "--data-dir", data_dir).output)
    assert out["documents"] == 3 and out["chunks"] == 3 and out["vectors"] == 3
    assert out["embedder"] == "e5-small" and out["collection"].startswith("citedesk-e5-small-")


def test_reindex_json_switches_the_collection(data_dir):
    before = json.loads(run("stats", "--json", "--data-dir", data_dir).output)["collection"]
    res = run("reindex", "--json", "--data-dir", data_dir)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["chunks"] == 3 and out["previous_collection"] == before and out["collection"] != before
    after = json.loads(run("search", "银行卡被盗刷了怎么办", "-k", 1, "--json", "--data-dir", data_dir).output)
    assert after["results"][0]["title"] == "银行卡安全"


def test_reindex_is_refused_while_another_writer_holds_the_directory(data_dir):
    with KnowledgeBase.open(Settings(data_dir=data_dir), writer=True):
        res = run("reindex", "--data-dir", data_dir)
    assert res.exit_code == 2 and "pid" in res.output

"""The knowledge base as a llama-index retriever, on a real knowledge base built here, and inside a
llama-index query engine as a company's own application would use it."""

from __future__ import annotations

import pytest

from ingest.pipeline import ingest_paths
from kb.knowledge import KnowledgeBase
from kb.search.llamaindex import CiteDeskRetriever
from kb.settings import Settings
from kb.types import SearchFilters

DOCS = {
    "随心贷产品说明.md": "# 随心贷产品说明\n\n## 利率与费用\n\n随心贷的年化利率（单利）为7.2%至18%，按日计息。\n\n"
    "## 提前还款\n\n提前还款不收取任何手续费，利息按实际借款天数计算。\n",
    "客服规范.md": "# 客服规范\n\n## 投诉处理\n\n客户投诉须在24小时内响应，并在5个工作日内给出处理结果。\n\n"
    "## 身份核验\n\n办理业务前须核验客户的姓名、手机号和身份证后四位。\n",
}


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("llamaindex")
    (root / "docs").mkdir()
    for name, text in DOCS.items():
        (root / "docs" / name).write_text(text, encoding="utf-8")
    settings = Settings(data_dir=root / "data")
    with KnowledgeBase.open(settings, writer=True) as writer:
        ingest_paths(writer, [root / "docs" / "随心贷产品说明.md"], kind="product", progress=False)
        ingest_paths(writer, [root / "docs" / "客服规范.md"], kind="procedure", progress=False)
    with KnowledgeBase.open(settings) as reader:
        yield reader


def test_nodes_are_the_knowledge_bases_hits_with_their_citation_metadata(kb):
    question = "提前还款要手续费吗"
    hits = kb.search(question, k=3)
    nodes = CiteDeskRetriever(kb, k=3).retrieve(question)
    assert [n.node.node_id for n in nodes] == [h.chunk.chunk_id for h in hits]
    assert [n.score for n in nodes] == [h.score for h in hits]
    top = nodes[0]
    assert "不收取任何手续费" in top.node.get_content()
    meta = top.node.metadata
    assert meta["title"] == "随心贷产品说明" and "提前还款" in meta["section"] and meta["kind"] == "product"
    assert meta["source"].endswith("随心贷产品说明.md") and meta["chunk_id"] == top.node.node_id
    assert top.node.ref_doc_id == meta["doc_id"] == hits[0].chunk.doc_id
    assert set(meta["signals"]) >= {"dense", "bm25", "fused"}
    # what an LLM sees beside the text: where it comes from, not ids and scores
    shown = top.node.get_metadata_str(mode="llm")
    assert "随心贷产品说明" in shown and "signals" not in shown and "chunk_id" not in shown


def test_filters_are_those_of_the_knowledge_base(kb):
    question = "客户投诉多久要响应"
    nodes = CiteDeskRetriever(kb, k=5, kind="procedure").retrieve(question)
    assert nodes and {n.node.metadata["kind"] for n in nodes} == {"procedure"}
    expected = kb.search(question, k=5, filters=SearchFilters(kind="procedure"))
    assert [n.node.node_id for n in nodes] == [h.chunk.chunk_id for h in expected]
    assert CiteDeskRetriever(kb, k=5, kind="regulation").retrieve(question) == []


def test_an_empty_question_is_refused_as_by_the_knowledge_base(kb):
    from kb.errors import ValidationError

    with pytest.raises(ValidationError, match="empty"):
        CiteDeskRetriever(kb).retrieve("  ")


def test_a_llama_index_query_engine_answers_from_the_knowledge_base(kb):
    """A llama-index application plugs the retriever into its own query engine (here with
    llama-index's MockLLM, which echoes the prompt): the sources are our chunks."""
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    engine = RetrieverQueryEngine.from_args(CiteDeskRetriever(kb, k=2), llm=MockLLM())
    response = engine.query("随心贷的年化利率是多少")
    assert response.source_nodes[0].node.metadata["section"].endswith("利率与费用")
    assert "7.2%至18%" in str(response)  # the echoed prompt holds the retrieved text
    assert [n.node.node_id for n in response.source_nodes] == [h.chunk.chunk_id for h in kb.search("随心贷的年化利率是多少", k=2)]

"""Hybrid retrieval: calibrated fusion, filters, version supersession, near-duplicate removal."""

from __future__ import annotations

import numpy as np
import pytest

from kb.knowledge import KnowledgeBase
from kb.search import retriever as retrieval
from kb.search.filters import DocMeta, allowed_documents, base_title, doc_status
from kb.search.fusion import fuse
from kb.search.retriever import dedupe
from kb.settings import Settings
from kb.types import Chunk, Document, Hit, SearchFilters, make_chunk_id, make_doc_id

CORPUS = [
    ("repay", "还款规则", "procedure", {"tags": ["还款"]}, [
        "借款人可以在应用内申请提前还款，提前还款按实际借款天数计息。",
        "逾期还款将产生罚息，罚息按日万分之五计算，并可能影响个人征信记录。",
        "每月还款日为借款日对应日，遇节假日不顺延。",
    ]),
    ("card", "银行卡安全", "procedure", {"tags": ["安全", "反诈"]}, [
        "持卡人发现银行卡被他人盗用，应立即致电客服挂失并向公安机关报案。",
        "客服人员不得索要客户的短信验证码或交易密码。",
    ]),
    ("coupon", "优惠券规则", "product", {"product": "随心贷"}, [
        "编号 ZX0931 的优惠券仅限首次借款使用，有效期三十天。",
    ]),
    ("privacy", "个人信息保护", "regulation", {}, [
        "处理敏感个人信息应当取得个人的单独同意。",
        "个人有权查阅、复制其个人信息，有权请求更正、补充。",
    ]),
    ("complaint", "投诉处理", "procedure", {}, [
        "客户投诉应在二十四小时内首次响应，十五个工作日内办结。",
        "对催收方式不满的投诉，应转交贷后管理部门复核。",
    ]),
    ("rate-v1", "随心贷产品说明 v1", "product",
     {"product": "随心贷", "version": "v1", "effective_date": "2020-01-01"},
     ["随心贷年化利率区间为9%至24%，按日计息。"]),
    ("rate-v2", "随心贷产品说明 v2", "product",
     {"product": "随心贷", "version": "v2", "effective_date": "2023-01-01"},
     ["随心贷年化利率区间为7.2%至18%，按日计息。"]),
    ("rate-v3", "随心贷产品说明 v3", "product",
     {"product": "随心贷", "version": "v3", "effective_date": "2999-01-01"},
     ["随心贷年化利率区间为6%至15%，按日计息。"]),
    ("old", "旧版催收规范", "procedure", {"expiry_date": "2019-12-31"}, ["催收电话每天不得超过三次。"]),
    ("dup", "还款规则（转载）", "other", {}, ["借款人可以在应用内申请提前还款，提前还款按实际借款天数计息。"]),
]


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    base = KnowledgeBase.open(Settings(data_dir=tmp_path_factory.mktemp("retr") / "data"), writer=True)
    for src, title, kind, meta, texts in CORPUS:
        did = make_doc_id(src)
        base.upsert_document(
            Document(did, title, kind, src, "\n".join(texts), meta), [Chunk(make_chunk_id(did, t), did, t) for t in texts]
        )
    yield base
    base.close()


def texts(hits):
    return [h.chunk.text for h in hits]


def test_fused_score_is_calibrated_and_monotone():
    dense = np.array([0.80, 0.85, 0.90, 0.90])
    bm25 = np.array([0.0, 0.0, 0.0, 4.0])
    s = fuse(dense, bm25)
    assert np.all((s >= 0) & (s <= 1))
    assert s[0] < s[1] < s[2] < s[3]  # more dense similarity, then more lexical evidence, score higher


def test_a_clearly_relevant_chunk_outscores_an_irrelevant_one(kb):
    hits = kb.search("投诉一般多久能处理完", k=5)
    assert hits[0].chunk.text.startswith("客户投诉应在二十四小时内")
    irrelevant = [h for h in hits if "验证码" in h.chunk.text or "个人信息" in h.chunk.text or "还款" in h.chunk.text]
    assert irrelevant and all(hits[0].score > 10 * h.score for h in irrelevant)
    off_topic = kb.search("今天天气怎么样", k=1)[0]
    assert off_topic.score < hits[0].score / 3


def test_an_answer_only_bm25_finds_and_one_only_dense_finds_both_appear(kb):
    q = "ZX0931 别人偷偷刷了我的卡咋办"
    chunks, d, b, cand, _ = kb.retriever.candidates(q, 40, 40)
    by_text = {chunks[c].text: (d[i], b[i]) for i, c in enumerate(cand)}
    code = next(t for t in by_text if "ZX0931" in t)
    stolen = next(t for t in by_text if "盗用" in t)
    assert by_text[code][1] > 0  # the coupon code is an exact lexical match
    assert by_text[stolen][1] == 0  # no word of the question is in the 盗用 chunk: only dense finds it
    assert max(by_text.values(), key=lambda v: v[1]) == by_text[code]
    assert max(by_text.values(), key=lambda v: v[0]) == by_text[stolen]
    hits = texts(kb.search(q, k=2))
    assert set(hits) == {code, stolen}


def test_a_paraphrase_without_shared_words_is_found_by_dense(kb):
    hits = kb.search("别人偷偷刷了我的卡咋办", k=3)
    assert hits[0].chunk.text.startswith("持卡人发现银行卡被他人盗用")
    assert hits[0].signals["bm25"] == 0.0


def test_lay_words_reach_the_legal_wording_through_the_expansion(kb, monkeypatch):
    q = "信用卡被盗刷了怎么办"  # the chunk says 银行卡 / 持卡人 / 盗用, never 信用卡 or 盗刷

    def bm25_of_card_chunk():
        chunks, d, b, cand, _ = kb.retriever.candidates(q, 40, 40)
        return next(b[i] for i, c in enumerate(cand) if chunks[c].text.startswith("持卡人发现银行卡被他人盗用"))

    monkeypatch.setattr(retrieval, "EXPANSION_WEIGHT", 0.0)
    assert bm25_of_card_chunk() == 0.0
    monkeypatch.setattr(retrieval, "EXPANSION_WEIGHT", 0.5)
    assert bm25_of_card_chunk() > 0.0
    assert kb.search(q, k=1)[0].chunk.text.startswith("持卡人发现银行卡被他人盗用")


def test_kind_product_and_tag_filters(kb):
    assert {h.chunk.kind for h in kb.search("规则", k=10, filters=SearchFilters(kind="procedure"))} == {"procedure"}
    kinds = {h.chunk.kind for h in kb.search("规则", k=10, filters=SearchFilters(kind=["faq", "regulation"]))}
    assert kinds == {"regulation"}
    assert {h.chunk.meta["product"] for h in kb.search("利率", k=10, filters=SearchFilters(product="随心贷"))} == {"随心贷"}
    tagged = kb.search("银行卡被盗", k=10, filters=SearchFilters(tags=["反诈"]))
    assert tagged and {h.chunk.title for h in tagged} == {"银行卡安全"}


def test_inactive_documents_and_superseded_versions_are_left_out(kb):
    got = texts(kb.search("随心贷利率是多少", k=10))
    assert "随心贷年化利率区间为7.2%至18%，按日计息。" in got  # v2, in force
    assert not [t for t in got if "9%至24%" in t or "6%至15%" in t]  # v1 superseded, v3 not yet effective
    assert "催收电话每天不得超过三次。" not in texts(kb.search("催收电话每天能打几次", k=10))
    later = texts(kb.search("随心贷利率是多少", k=10, filters=SearchFilters(on_date="3000-01-01")))
    assert any("6%至15%" in t for t in later) and not any("7.2%至18%" in t for t in later)
    everything = texts(kb.search("随心贷利率是多少", k=10, filters=SearchFilters(include_inactive=True)))
    assert sum("年化利率区间" in t for t in everything) == 3


def test_near_duplicates_keep_the_better_hit(kb):
    got = kb.search("提前还款怎么计息", k=5)
    assert sum(t.startswith("借款人可以在应用内申请提前还款") for t in texts(got)) == 1


def test_dedupe_keeps_the_higher_score():
    a = Hit(Chunk("a", "d", "客户投诉应在二十四小时内首次响应。"), 0.4)
    b = Hit(Chunk("b", "e", "客戶投訴應在二十四小時內首次響應。"), 0.9)  # same text, Traditional
    c = Hit(Chunk("c", "f", "逾期还款将产生罚息。"), 0.5)
    assert [h.chunk.chunk_id for h in dedupe([a, b, c])] == ["b", "c"]


def test_base_title_and_status():
    assert base_title("随心贷产品说明 v2", "v2") == base_title("随心贷产品说明（2024版）") == "随心贷产品说明"
    assert base_title("还款规则 V1.2") == "还款规则"
    assert doc_status({"expiry_date": "2020-01-01"}, "2021-01-01") == "expired"
    assert doc_status({"effective_date": "2022-01-01"}, "2021-01-01") == "future"
    assert doc_status({"effective_date": "2020-01-01", "expiry_date": "2021-01-01"}, "2021-01-01") == "active"


def test_allowed_documents_without_product_are_not_grouped():
    docs = {
        "a": DocMeta("a", "说明 v1", "other", "a", {"version": "v1"}),
        "b": DocMeta("b", "说明 v2", "other", "b", {"version": "v2"}),
    }
    assert allowed_documents(docs, None) == {"a", "b"}


def test_hits_are_re_ranked_and_their_scores_stay_probabilities(kb):
    hits = kb.search("逾期了罚息怎么算", k=5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert hits[0].chunk.text.startswith("逾期还款将产生罚息")
    for h in hits:  # what the re-ranking read, for the agent's "why this source" view and the evals
        assert {"fused", "dense", "bm25", "sentence", "text"} <= set(h.signals)
    plain = retrieval.HybridRetriever(
        kb.catalog, kb.store, kb.lexical, kb.embedder, kb._documents_meta, query_encoder=kb.retriever.query_encoder,
        lexicon=kb.lexicon,
    )  # no SentenceScorer: CITEDESK_RERANK=false
    fused = plain.search("逾期了罚息怎么算", k=5)
    assert all(h.score == h.signals["fused"] and "sentence" not in h.signals for h in fused)
    by_id = {h.chunk.chunk_id: h.signals["fused"] for h in hits}
    assert all(by_id[h.chunk.chunk_id] == pytest.approx(h.score) for h in fused if h.chunk.chunk_id in by_id)

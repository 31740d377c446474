"""The BM25 index: normalised tokens, persistence tagged with the catalog snapshot, rebuild when stale."""

from __future__ import annotations

import pytest
import yaml

from kb.bundles import shipped
from kb.errors import ConfigError
from kb.index.catalog import Catalog
from kb.index.lexical import LexicalIndex, chunk_tokens, index_text, lexical_text
from kb.text.lexicon import LEXICON_FILE, load_entries, load_lexicon
from kb.text.norm import normalize, tokenize
from kb.types import Chunk, Document

TEXTS = {
    "c1": "借款人逾期还款的，应当支付逾期利息。",
    "c2": "信用卡被盗刷时，持卡人应当及时挂失。",
    "c3": "個人信息處理者應當採取措施保護個人信息安全。",  # Traditional script
}


def fill(catalog: Catalog, texts: dict[str, str], doc_id: str = "d1", title: str = "规则") -> None:
    doc = Document(doc_id, title, "regulation", "x.md", "", {})
    chunks = [Chunk(cid, doc_id, t, section="", meta={"title": title}) for cid, t in texts.items()]
    with catalog.transaction() as conn:
        catalog.replace_document(conn, doc, chunks, [" ".join(chunk_tokens(c)) for c in chunks], "fp" + str(texts))


def test_knows_tells_whether_every_token_occurs_in_the_index(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    fill(catalog, TEXTS)
    lex = LexicalIndex(catalog, tmp_path / "lexical")
    assert lex.knows("逾期利息") and lex.knows("信息安全") and lex.knows("資訊安全") is False
    assert lex.knows("個人") and lex.knows("保護")  # Traditional query, text indexed in either script
    assert not lex.knows("招商银行") and not lex.knows("逾期 招商银行") and not lex.knows("")
    catalog.close()


def test_the_vector_embeds_title_section_and_text_and_bm25_also_reads_the_keys():
    # a chunk's question keys are vector entries of their own (kb.search.fusion.key_evidence): in
    # its vector they would make a keyed chunk closer to every lay question than an unkeyed one
    c = Chunk("c", "d", "正文", section="第三条", meta={"title": "还款规则", "keys": ["怎么提前还款？"]})
    assert index_text(c) == "还款规则 第三条\n正文"
    assert lexical_text(c) == "还款规则 第三条\n正文\n怎么提前还款？"


def test_search_matches_traditional_and_simplified(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    fill(catalog, TEXTS)
    lex = LexicalIndex(catalog, tmp_path / "lexical")
    assert lex.search("逾期利息", 3)[0][0] == "c1"
    assert lex.search("个人信息安全", 3)[0][0] == "c3"  # Simplified query, Traditional text
    assert lex.search("信用卡盜刷", 3)[0][0] == "c2"  # Traditional query, Simplified text
    assert lex.search("完全无关的词语组合", 3) == []
    catalog.close()


def test_persisted_index_is_reused_and_rebuilt_when_the_catalog_moves_on(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    fill(catalog, TEXTS)
    lex = LexicalIndex(catalog, tmp_path / "lexical")
    lex.ensure_fresh()
    assert lex.rebuilds == 1 and lex.snapshot_id == catalog.snapshot_id

    reopened = LexicalIndex(catalog, tmp_path / "lexical")
    assert reopened.search("逾期利息", 2)[0][0] == "c1"
    assert reopened.rebuilds == 0  # loaded from disk, tagged with the current snapshot

    fill(catalog, {"c9": "提前还款无需支付违约金。"}, doc_id="d2")
    assert reopened.search("提前还款违约金", 2)[0][0] == "c9"
    assert reopened.rebuilds == 1 and reopened.snapshot_id == catalog.snapshot_id

    with catalog.transaction() as conn:
        catalog.delete_document(conn, "d1")
    assert reopened.search("逾期利息", 2) == []
    catalog.close()


def test_damaged_index_is_rebuilt_from_the_catalog(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    fill(catalog, TEXTS)
    LexicalIndex(catalog, tmp_path / "lexical").ensure_fresh()
    (tmp_path / "lexical" / "citedesk.json").write_text("{not json", encoding="utf-8")
    lex = LexicalIndex(catalog, tmp_path / "lexical")
    assert lex.search("逾期利息", 2)[0][0] == "c1"
    assert lex.rebuilds == 1
    catalog.close()


def test_allowed_documents_restrict_the_scores(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    fill(catalog, {"a1": "逾期利息按年利率计算。"}, doc_id="a")
    fill(catalog, {"b1": "逾期利息不得超过合同成立时一年期贷款市场报价利率四倍。"}, doc_id="b")
    lex = LexicalIndex(catalog, tmp_path / "lexical")
    assert {c for c, _ in lex.search("逾期利息", 5)} == {"a1", "b1"}
    assert [c for c, _ in lex.search("逾期利息", 5, allowed_docs={"b"})] == ["b1"]
    catalog.close()


# -- lay → legal query expansion (kb.text.lexicon, the regulations_zh bundle's lexicon) ----------

LEXICON = load_lexicon([shipped("regulations_zh")])

STATUTE = {
    "a670": "借款的利息不得预先在本金中扣除。利息预先在本金中扣除的，应当按照实际借款数额返还借款并计算利息。",
    "a681": "保证合同是为保障债权的实现，保证人和债权人约定，当债务人不履行到期债务时，保证人履行债务的合同。",
    "a29": "经营者收集、使用消费者个人信息，应当遵循合法、正当、必要的原则，明示收集、使用信息的目的。",
}


def test_the_lexicon_loads_and_every_entry_is_well_formed():
    path = shipped("regulations_zh").part(LEXICON_FILE)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["entries"]
    entries = load_entries(path)
    assert len(entries) == len(raw) >= 80
    for lay, legal in entries:
        assert lay and legal
        assert all(isinstance(p, str) and len(p) >= 2 and p == normalize(p) for p in lay)
        assert all(isinstance(t, str) and t.strip() == t and t for t in legal)


def test_a_malformed_lexicon_is_rejected(tmp_path):
    bad = tmp_path / "terms.yaml"
    bad.write_text("entries:\n- {lay: [借钱], legal: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="entry 0"):
        load_entries(bad)


def test_expansion_maps_lay_words_to_legal_terms_in_either_script():
    assert "保证人" in LEXICON.expansion_terms("帮朋友当担保人要负什么责任")
    assert "预先" in LEXICON.expansion_tokens("砍頭息合法嗎")  # Traditional question
    assert LEXICON.expansion_tokens("完全无关的词语组合") == []
    toks = LEXICON.expansion_tokens("借钱要还利息吗")
    assert "借款" in toks and all(len(t) > 1 for t in toks)
    assert not set(toks) & set(tokenize("借钱要还利息吗"))  # only what the question lacks


def test_taiwan_words_reach_the_mainland_words_of_the_sources():
    # t2s converts characters only: 資訊 → 资讯, 簡訊 → 简讯, 帳戶 → 帐户, none of them in a statute
    assert "信息" not in tokenize("你們能刪掉我的資訊嗎")
    assert "信息" in LEXICON.expansion_tokens("你們能刪掉我的資訊嗎")
    assert "短信" in LEXICON.expansion_tokens("一直收到推銷簡訊")
    assert "账户" in LEXICON.expansion_tokens("我的銀行帳戶被凍結了")


def test_english_words_map_to_the_chinese_terms_of_the_documents():
    assert "投诉" in LEXICON.expansion_terms("How do I file a complaint?")
    assert "提前还款" in LEXICON.expansion_terms("Can I REPAY EARLY?")  # case does not matter
    # an English word matches as a whole word only
    assert "手续费" in LEXICON.expansion_terms("is there a fee") and not LEXICON.expansion_terms("I'd like a coffee")
    alternatives = LEXICON.alternatives("What is the late fee?")
    assert {"逾期", "手续费"} <= alternatives["fee"] and alternatives["late"] >= {"late", "逾期"}
    assert LEXICON.alternatives("a loan for my holiday")["holiday"] == {"holiday"}  # no entry: only itself


def test_english_questions_about_the_statutes_reach_their_legal_terms():
    # courts and evidence, payment accounts, lending platforms: the statutes' own words
    assert {"证据", "人民法院"} <= set(LEXICON.expansion_terms("Can our chat logs be used as evidence in court?"))
    assert {"出租", "支付账户"} <= set(LEXICON.expansion_terms("Can I rent out my payment app account?"))
    assert "提供媒介服务" in LEXICON.expansion_terms("The P2P site says it was just a middleman. Is it liable?")
    assert "金融信用信息基础数据库" in LEXICON.expansion_terms("Will you report my loan to the central bank's credit database?")


def test_a_bm25_score_in_units_of_a_rare_terms_idf_does_not_grow_with_the_index(tmp_path):
    small, large = Catalog(tmp_path / "s.sqlite"), Catalog(tmp_path / "l.sqlite")
    fill(small, TEXTS)
    fill(large, {**TEXTS, **{f"x{i}": f"第{i}条 其他无关条文内容{i}。" for i in range(300)}})
    scores = {}
    for name, catalog in (("small", small), ("large", large)):
        index = LexicalIndex(catalog, tmp_path / name)
        ids, raw, pos = index.scores("逾期利息")
        scores[name] = (float(raw[pos["c1"]]), index.rare_term_idf())
    (raw_s, idf_s), (raw_l, idf_l) = scores["small"], scores["large"]
    assert raw_l > 2 * raw_s  # the same match scores far higher in the larger index
    assert 0.6 < (raw_l / idf_l) / (raw_s / idf_s) < 1.6  # measured in rare-term units, about the same


def test_a_lay_question_finds_its_article_only_with_the_expansion(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    fill(catalog, STATUTE, title="民法典")
    lex = LexicalIndex(catalog, tmp_path / "lexical")
    q = "砍头息合法吗"
    assert all(cid != "a670" for cid, _ in lex.search(q, 3))  # no word in common with the article
    assert lex.search(tokenize(q) + LEXICON.expansion_tokens(q), 3)[0][0] == "a670"
    q = "帮同事做担保有风险吗"
    assert all(cid != "a681" for cid, _ in lex.search(q, 3))
    assert lex.search(tokenize(q) + LEXICON.expansion_tokens(q), 3)[0][0] == "a681"
    catalog.close()


def test_expansion_terms_are_scored_in_the_same_call_as_the_question(tmp_path):
    # one call, one snapshot of the index: scoring them in two calls broke when an upload rebuilt
    # the index in between (arrays of different lengths; found by the load test)
    catalog = Catalog(tmp_path / "c.sqlite")
    fill(catalog, TEXTS)
    lex = LexicalIndex(catalog, tmp_path / "lexical")
    ids, plain, _ = lex.scores(["逾期"])
    _, extra, _ = lex.scores(["挂失"])
    _, combined, _ = lex.scores(["逾期"], None, ["挂失"], 0.5)
    assert list(combined) == pytest.approx(list(plain + 0.5 * extra))
    assert ids[int(combined.argmax())] == "c1" and combined[ids.index("c2")] > 0
    catalog.close()

"""The LeCoQA measurement: corpus building, scoring of rankings, fitting the fusion."""

from __future__ import annotations

import numpy as np

from evals import retrieval_bench as rb


def test_regulation_articles_are_split_per_article(corpora_dir):
    arts = rb.regulation_articles(corpora_dir)
    text = arts["中华人民共和国民法典第六百七十条"]
    assert text.startswith("借款的利息不得预先在本金中扣除")
    two_paragraphs = arts["中华人民共和国民法典第六百六十八条"]
    assert "借款合同的内容一般包括" in two_paragraphs  # an article continuing over a second paragraph
    assert len(arts) > 500


def test_lecoqa_corpus_has_every_gold_article_once(corpora_dir):
    questions, docs = rb.lecoqa_documents(corpora_dir)
    assert len(questions) == 1543
    sections = [c.section for _, chunks in docs for c in chunks]
    assert len(sections) == len(set(sections))
    gold = set().union(*(q.gold for q in questions))
    assert gold <= set(sections)
    assert len({c.chunk_id for _, chunks in docs for c in chunks}) == len(sections)


def _rows(n=40, seed=3):
    """Synthetic candidates where gold has higher dense and BM25 on average (but noisy)."""
    rng = np.random.default_rng(seed)
    rows = []
    for qid in range(n):
        m = 30
        gold_i = rng.integers(m)
        dense = rng.normal(0.85, 0.02, m)
        bm25 = np.maximum(rng.normal(1.0, 1.0, m), 0)
        dense[gold_i] += 0.03
        bm25[gold_i] += 1.5
        rows.append({"qid": qid, "gold": {f"s{gold_i}"}, "sections": [f"s{i}" for i in range(m)],
                     "dense": dense, "bm25": bm25})
    return rows


def test_score_rows_counts_hits_at_1_and_5():
    row = {"qid": 0, "gold": {"b"}, "sections": ["a", "b", "c"], "dense": np.array([0.9, 0.8, 0.7]),
           "bm25": np.array([0.0, 5.0, 0.0])}
    assert rb.score_rows([row], "dense") == {"hit@1": 0.0, "hit@5": 1.0, "mrr@10": 0.5, "n": 1}
    assert rb.score_rows([row], "bm25")["hit@1"] == 1.0


def test_fitted_fusion_beats_each_signal_and_keeps_weights_non_negative():
    rows = _rows()
    fit, test = rb.split(rows)
    weights = rb.fit_fusion(fit)
    assert all(w >= 0 for w in weights[1:])
    fused = rb.score_rows(test, "fused", weights)["mrr@10"]
    assert fused >= rb.score_rows(test, "dense")["mrr@10"]
    assert fused >= rb.score_rows(test, "bm25")["mrr@10"]

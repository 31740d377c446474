"""The LeCoQA benchmark (evals/lecoqa.py): the corpus, scoring, the per-method comparison, and the
builder and runner on a small slice (--limit) through the real CLI."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from api.cli import main
from evals.lecoqa import corpus, first_gold_rank, lecoqa_documents, regulation_articles, score, score_rows


def test_scores_from_ranks_by_hand():
    # ranks 1, 3, 7, none: hit@1 1/4, hit@5 2/4, hit@10 3/4, MRR (1 + 1/3 + 1/7) / 4
    s = score([1, 3, 7, None])
    assert s == {"hit@1": 0.25, "hit@5": 0.5, "hit@10": 0.75, "mrr@10": round((1 + 1 / 3 + 1 / 7) / 4, 4)}
    assert first_gold_rank(["甲法第一条", "民法典第六百七十条"], {"民法典第六百七十条"}) == 2
    assert first_gold_rank(["甲法第一条"], {"乙法第二条"}) is None


def test_slice_holds_the_gold_articles_and_distractors(corpora_dir):
    questions, docs = corpus(corpora_dir, limit=5)
    assert len(questions) == 5
    sections = [c.section for _, chunks in docs for c in chunks]
    gold = set().union(*(q.gold for q in questions))
    assert gold <= set(sections)
    assert len(sections) == len(gold) + 10  # 2 distractor articles per question
    assert len(set(sections)) == len(sections)
    full_q, full_docs = corpus(corpora_dir)
    assert len(full_q) == 1543
    assert sum(len(c) for _, c in full_docs) > 1445  # every unique gold article plus regulation articles


def test_bench_cli_on_a_slice_builds_once_and_reuses(corpora_dir, tmp_path):
    args = ["bench", "lecoqa", "--limit", "6", "--corpora", str(corpora_dir), "--data-dir", str(tmp_path / "bench")]
    first = CliRunner().invoke(main, args + ["--json"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    one = json.loads(first.output)
    assert one["questions"] == 6 and one["build"]["added"] >= 1
    assert 0.0 <= one["hit@1"] <= one["hit@5"] <= one["hit@10"] <= 1.0
    assert one["hit@10"] >= 0.5  # the gold article is among only 6·2 distractors
    again = CliRunner().invoke(main, args, catch_exceptions=False)
    assert again.exit_code == 0
    assert f"hit@5: {one['hit@5']:.4f}" in again.output  # same corpus, same measurement
    assert "hit@1:" in again.output and "mrr@10:" in again.output
    # the second run re-embedded nothing: every document unchanged
    third = json.loads(CliRunner().invoke(main, args + ["--json"]).output)
    assert third["build"]["added"] == 0 and third["build"]["unchanged"] == one["build"]["added"]


def test_missing_corpus_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["bench", "lecoqa", "--corpora", str(tmp_path), "--data-dir", str(tmp_path / "d")])
    assert res.exit_code == 2
    assert "LeCoQA is not at" in res.output



def test_regulation_articles_are_split_per_article(corpora_dir):
    arts = regulation_articles(corpora_dir)
    text = arts["中华人民共和国民法典第六百七十条"]
    assert text.startswith("借款的利息不得预先在本金中扣除")
    two_paragraphs = arts["中华人民共和国民法典第六百六十八条"]
    assert "借款合同的内容一般包括" in two_paragraphs  # an article continuing over a second paragraph
    assert len(arts) > 500


def test_lecoqa_corpus_has_every_gold_article_once(corpora_dir):
    questions, docs = lecoqa_documents(corpora_dir)
    assert len(questions) == 1543
    sections = [c.section for _, chunks in docs for c in chunks]
    assert len(sections) == len(set(sections))
    gold = set().union(*(q.gold for q in questions))
    assert gold <= set(sections)
    assert len({c.chunk_id for _, chunks in docs for c in chunks}) == len(sections)


def test_score_rows_counts_hits_at_1_and_5():
    row = {"qid": 0, "gold": {"b"}, "sections": ["a", "b", "c"], "dense": np.array([0.9, 0.8, 0.7]),
           "bm25": np.array([0.0, 5.0, 0.0])}
    assert score_rows([row], "dense") == {"hit@1": 0.0, "hit@5": 1.0, "mrr@10": 0.5, "n": 1}
    assert score_rows([row], "bm25")["hit@1"] == 1.0

"""The Answerer measured on the 13 statutes + the seed regulation with the seven regulations sets
(real corpus, real e5; slow): the first set in detail, all seven against the issue's targets.
Per-set figures are in docs/benchmarks.md."""

from __future__ import annotations

import pytest

from kb.answer.pipeline import Answerer
from kb.knowledge import KnowledgeBase
from kb.settings import Settings

SETS = ["regulations.yaml"] + [f"regulations_{x}.yaml" for x in "bcdefg"]


@pytest.fixture(scope="module")
def every_set(tmp_path_factory, corpora_dir, seed_file, project_root):
    from evals.qaset import load_qaset
    from ingest.pipeline import ingest_paths

    settings = Settings(data_dir=tmp_path_factory.mktemp("regulations"))
    with KnowledgeBase.open(settings, writer=True) as kb:
        report = ingest_paths(kb, [corpora_dir / "regulations_zh", seed_file], progress=False)
        assert not report.errors
        answerer = Answerer(kb, settings)
        yield {
            name: [(item, answerer.ask(item.question)) for item in load_qaset(project_root / "evals" / "sets" / name).items]
            for name in SETS
        }


@pytest.fixture(scope="module")
def regulations(every_set):
    return every_set["regulations.yaml"]


def _rates(rows):
    from evals.metrics import source_matches

    answerable = [(i, a) for i, a in rows if i.answerable]
    unanswerable = [(i, a) for i, a in rows if not i.answerable]
    cited = sum(
        not a.abstained and any(source_matches(c, s) for c in a.citations for s in i.expected_sources)
        for i, a in answerable
    )
    return (
        cited / len(answerable),
        sum(a.abstained for _, a in answerable) / len(answerable),
        sum(a.abstained for _, a in unanswerable) / len(unanswerable),
    )


@pytest.mark.slow
def test_abstention_on_the_regulations_set(regulations):
    _, answerable_abstained, unanswerable_abstained = _rates(regulations)
    assert answerable_abstained <= 0.05
    assert unanswerable_abstained >= 0.80


@pytest.mark.slow
def test_lay_questions_find_their_article_among_the_first_five_hits(regulations):
    from evals.metrics import source_matches

    answerable = [(i, a) for i, a in regulations if i.answerable]
    found = sum(any(source_matches(h, s) for h in a.hits[:5] for s in i.expected_sources) for i, a in answerable)
    assert found / len(answerable) >= 0.93  # 71 of 72 measured (docs/benchmarks.md)


@pytest.mark.slow
def test_re_ranking_puts_the_right_article_first_for_about_four_in_five(every_set):
    from evals.metrics import source_matches

    answerable = [(i, a) for rows in every_set.values() for i, a in rows if i.answerable]
    first = sum(any(source_matches(a.hits[0], s) for s in i.expected_sources) for i, a in answerable if a.hits)
    # over the seven sets, 344 of 432 measured (79.6%); 334 by the fused score alone. Per set the
    # count moves by a question or two between machines (the first set: 57–60 of 72), so the seven
    # are counted together (docs/benchmarks.md)
    assert first / len(answerable) >= 0.77


@pytest.mark.slow
def test_answerable_regulation_questions_cite_the_right_article(regulations):
    # 69 of 72 measured (95.8%; docs/benchmarks.md)
    cited_right, _, _ = _rates(regulations)
    assert cited_right >= 0.90


@pytest.mark.slow
def test_confidence_is_calibrated_on_the_regulations_set(regulations):
    from evals.metrics import source_matches

    pairs = [
        (a.confidence, any(source_matches(c, s) for c in a.citations for s in i.expected_sources) and not a.abstained)
        for i, a in regulations
    ]
    low = [ok for conf, ok in pairs if conf < 0.3]
    high = [ok for conf, ok in pairs if conf >= 0.5]
    assert low and high
    assert sum(low) / len(low) < 0.25 < 0.5 < sum(high) / len(high)


@pytest.mark.slow
def test_the_seven_sets_meet_the_targets_for_cited_answers_and_abstention(every_set):
    # measured 2026-12-07: 395 of 432 answerable questions cite the right article (91.4%; 93.3%
    # before question keys became evidence rather than rival texts — fairness to a company's
    # unkeyed documents, at this in-sample cost; docs/benchmarks.md). Gated on the pooled questions:
    # per set it is 86.7% to 95.0%, and with 60 questions one reply is 1.7 points.
    pooled = [row for rows in every_set.values() for row in rows]
    cited_right, answerable_abstained, unanswerable_abstained = _rates(pooled)
    assert cited_right >= 0.90
    assert answerable_abstained <= 0.05
    assert unanswerable_abstained >= 0.80
    for name, rows in every_set.items():
        _, answerable_abstained, unanswerable_abstained = _rates(rows)
        assert answerable_abstained <= 0.05, name
        assert unanswerable_abstained >= 0.80, name

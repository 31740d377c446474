"""Question keys: customers' phrasings of a document's sections, from a file beside the index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ingest.pipeline import ingest_bytes, ingest_paths
from ingest.question_keys import load_question_keys
from kb.bundles import shipped
from kb.errors import ConfigError
from kb.knowledge import KnowledgeBase
from kb.settings import Settings

RULES = """# 某某条例

第一条 为了规范信用信息的采集和使用，制定本条例。

第二条 向征信机构提供个人不良信息的，应当事先告知信息主体本人。

第三条 征信机构对个人不良信息的保存期限，自不良行为终止之日起为五年。
"""
LAY = "我逾期了你们报上去之前会不会先打个招呼"


def _keys_file(folder: Path, questions: list[str], source: str = "rules") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "keys.yaml"
    path.write_text(yaml.safe_dump([{"source": source, "sections": {"第二条": questions}}], allow_unicode=True), "utf-8")
    return path


@pytest.fixture
def docs(tmp_path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "rules.md").write_text(RULES, encoding="utf-8")
    return folder


def _open(tmp_path, keys: str | None) -> KnowledgeBase:
    return KnowledgeBase.open(Settings(data_dir=tmp_path / "data", question_keys=keys), writer=True)


def _section_of_first_hit(kb, question: str) -> str:
    return kb.search(question, k=3)[0].chunk.section.split(" > ")[-1]


def test_a_sections_phrasings_become_keys_that_lead_a_lay_question_to_it(tmp_path, docs):
    keys = _keys_file(tmp_path / "keys", ["逾期了报征信之前会通知我吗", "你们上报我的不良记录前要先告诉我吗"])
    with _open(tmp_path, str(keys)) as kb:
        report = ingest_paths(kb, [docs], progress=False)
        assert report.ok and report.documents_added == 1
        (doc,) = kb.documents()
        by_section = {c.section.split(" > ")[-1]: c for c in kb.chunks_of(doc.doc_id)}
        assert by_section["第二条"].meta["keys"] == ["逾期了报征信之前会通知我吗", "你们上报我的不良记录前要先告诉我吗"]
        assert "keys" not in by_section["第一条"].meta
        assert _section_of_first_hit(kb, LAY) == "第二条"
        hit = kb.search(LAY, k=1)[0]
        assert hit.chunk.text.startswith("第二条")  # the reply quotes the statute, not the phrasing


def test_keys_are_evidence_beside_the_sections_own_text_not_part_of_it(tmp_path, docs):
    def signals_of_second(keys: str, where: str) -> dict:
        with KnowledgeBase.open(Settings(data_dir=tmp_path / where, question_keys=keys), writer=True) as kb:
            ingest_paths(kb, [docs], progress=False)
            hit = next(h for h in kb.search(LAY, k=3) if h.chunk.section.endswith("第二条"))
            return hit.signals

    keys = _keys_file(tmp_path / "keys", ["逾期了报征信之前会通知我吗", "你们上报我的不良记录前要先告诉我吗"])
    keyed, plain = signals_of_second(str(keys), "with"), signals_of_second("", "without")
    assert abs(keyed["dense"] - plain["dense"]) < 1e-4  # the section's own text is searched as it is
    assert "key" not in plain and keyed["key"] > keyed["dense"] + 0.03  # the phrasing is closer to the question


def test_changed_keys_re_ingest_an_unchanged_file_and_unchanged_keys_do_not(tmp_path, docs):
    keys = _keys_file(tmp_path / "keys", ["逾期了报征信之前会通知我吗"])
    with _open(tmp_path, str(keys)) as kb:
        ingest_paths(kb, [docs], progress=False)
        again = ingest_paths(kb, [docs], progress=False)
        assert (again.documents_unchanged, again.documents_updated) == (1, 0)
    _keys_file(tmp_path / "keys", ["逾期了报征信之前会通知我吗", "上征信前要不要先告诉本人"])
    with _open(tmp_path, str(keys)) as kb:
        changed = ingest_paths(kb, [docs], progress=False)
        assert (changed.documents_updated, changed.chunks_added, changed.chunks_removed) == (1, 0, 0)
        (doc,) = kb.documents()
        second = next(c for c in kb.chunks_of(doc.doc_id) if c.section.endswith("第二条"))
        assert second.meta["keys"] == ["逾期了报征信之前会通知我吗", "上征信前要不要先告诉本人"]
    with _open(tmp_path, "") as kb:  # keys switched off: the keys go too
        assert ingest_paths(kb, [docs], progress=False).documents_updated == 1
        (doc,) = kb.documents()
        assert all("keys" not in c.meta for c in kb.chunks_of(doc.doc_id))


def test_an_upload_gets_the_keys_of_its_file_name(tmp_path):
    keys = _keys_file(tmp_path / "keys", ["逾期了报征信之前会通知我吗"])
    with _open(tmp_path, str(keys)) as kb:
        report = ingest_bytes(kb, "rules.md", RULES.encode("utf-8"))
        assert report.documents_added == 1
        assert _section_of_first_hit(kb, LAY) == "第二条"


@pytest.mark.parametrize(
    "content, message",
    [
        ("source: rules\n", "expected a list"),
        ("- sections: {第二条: [问]}\n", "needs a `source`"),
        ("- source: rules\n  sections: {第二条: 问题}\n", "expected a list of questions"),
        ("- source: rules\n  sections: [第二条]\n", "`sections` must map"),
        ("- source: rules\n  sections: {第二条: [\"问\n", "cannot be read"),
    ],
)
def test_a_bad_keys_file_fails_the_ingest_before_anything_is_written(tmp_path, docs, content, message):
    bad = tmp_path / "keys" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text(content, encoding="utf-8")
    with _open(tmp_path, str(bad.parent)) as kb:
        with pytest.raises(ConfigError, match=re.escape(message)) as err:
            ingest_paths(kb, [docs], progress=False)
        assert "bad.yaml" in str(err.value)
        assert kb.documents() == []


def test_a_missing_keys_path_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_question_keys(spec=str(tmp_path / "nowhere.yaml"))


def test_personal_numbers_in_keys_are_masked_like_document_text(tmp_path):
    keys = load_question_keys(spec=str(_keys_file(tmp_path, ["我的手机13812345678收不到还款提醒怎么办"])))
    (question,) = keys.sections("rules.md")["第二条"]
    assert "13812345678" not in question and "收不到还款提醒" in question


def test_the_bundled_keys_name_real_articles_of_the_statutes(corpora_dir):
    statutes = corpora_dir / "regulations_zh"
    if not statutes.is_dir():
        pytest.skip("../shared/corpora/regulations_zh is not present")
    keys = load_question_keys((shipped("regulations_zh"),))
    files = {p.stem: p.read_text("utf-8") for p in statutes.glob("*.md")}
    assert set(keys.by_source) == set(files)  # every statute has keys, and only those
    for source, sections in keys.by_source.items():
        articles = set(re.findall(r"^(第[一二三四五六七八九十百千零〇]+条)", files[source], re.M))
        assert sections and set(sections) <= articles, source  # no label that is not an article
        for label, questions in sections.items():
            # up to five short phrasings (regulations_zh.yaml), one account of a situation
            # (regulations_zh_situations.yaml), two variants (regulations_zh_variants.yaml) and one
            # English question (regulations_zh_english.yaml)
            assert 1 <= len(questions) <= 9, (source, label)


def test_no_bundled_key_is_a_near_copy_of_an_evaluation_question(project_root):
    """The keys files' rule: a phrasing with a literal similarity of 0.6 or more to a question of
    an evaluation set is removed, so the sets do not measure the keys' own wording."""
    from rapidfuzz import fuzz, process

    keys = load_question_keys((shipped("regulations_zh"),))
    phrasings = [q for sections in keys.by_source.values() for qs in sections.values() for q in qs]
    questions = [
        item["question"]
        for path in sorted((project_root / "evals" / "sets").glob("*.yaml"))
        for item in yaml.safe_load(path.read_text("utf-8"))["items"]
    ]
    scores = process.cdist(phrasings, questions, scorer=fuzz.ratio, score_cutoff=60)
    close = [(phrasings[i], questions[j]) for i, j in zip(*scores.nonzero(), strict=True)]
    assert close == []


def test_english_phrasings_are_spread_evenly_over_the_articles():
    """An English question meets English keys far more closely than Chinese ones, so English keys on
    a few articles would draw every English question to those articles: each article with keys has
    one English phrasing (none where the 0.6 rule removed it), never more."""
    from kb.text.quotable import language

    keys = load_question_keys((shipped("regulations_zh"),))
    counts = [
        sum(1 for q in questions if language(q) == "en")
        for sections in keys.by_source.values()
        for questions in sections.values()
    ]
    assert max(counts) == 1
    assert sum(counts) >= 0.98 * len(counts)

"""Question keys a company's own use adds (graded questions, accepted replies, trainers), with their
origin: they lead a lay question to their section, survive a re-ingest, are removed by origin, and
a key on one document does not push another document's answers down."""

from __future__ import annotations

import pytest
import yaml

from ingest.pipeline import ingest_bytes
from kb.errors import NotFoundError, ValidationError
from kb.keys import add_keys, list_keys, remove_keys
from kb.knowledge import KnowledgeBase
from kb.settings import Settings

CREDIT = """# 征信规则

第一条 为了规范信用信息的采集和使用，制定本规则。

第二条 向征信机构提供个人不良信息的，应当事先告知信息主体本人。

第三条 征信机构对个人不良信息的保存期限，自不良行为终止之日起为五年。
"""
TRAVEL = """# 出行服务规定

第一条 旅客购票后因故不能出行的，可以在开车前办理退票。

第二条 行李超过规定重量的，按超重部分收取运费。

第三条 旅客遗失物品的，可以向车站失物招领处查询。
"""
LAY = "我逾期了你们报上去之前会不会先打个招呼"


def _kb(tmp_path, name="data", **kw) -> KnowledgeBase:
    return KnowledgeBase.open(Settings(data_dir=tmp_path / name, **kw), writer=True)


def _chunk(kb, title: str, label: str):
    doc = next(d for d in kb.documents() if d.title == title)
    return next(c for c in kb.chunks_of(doc.doc_id) if c.section.endswith(label))


def _rank(kb, question: str, title: str, label: str) -> int | None:
    hits = kb.search(question, k=5)
    return next((i + 1 for i, h in enumerate(hits)
                 if h.chunk.meta.get("title") == title and h.chunk.section.endswith(label)), None)


def test_a_graded_question_becomes_a_key_with_its_origin_and_leads_a_lay_question(tmp_path):
    with _kb(tmp_path) as kb:
        assert ingest_bytes(kb, "rules.md", CREDIT.encode()).ok
        target = _chunk(kb, "征信规则", "第二条")
        added = add_keys(kb, [(target.chunk_id, "逾期了报征信之前会通知我吗", "qaset:征信#c-01"),
                              (target.chunk_id, "上报不良记录前要先告诉我吗", "qaset:征信#c-02")], by="王老师")
        assert [k.origin for k in added] == ["qaset:征信#c-01", "qaset:征信#c-02"]
        chunk = kb.get_chunk(target.chunk_id)
        assert chunk.meta["keys"] == ["逾期了报征信之前会通知我吗", "上报不良记录前要先告诉我吗"]
        assert chunk.meta["key_origins"]["逾期了报征信之前会通知我吗"] == "qaset:征信#c-01"
        assert [(k.section.endswith("第二条"), k.added_by) for k in list_keys(kb, "qaset:征信")] == [(True, "王老师")] * 2
        hit = kb.search(LAY, k=3)[0]
        assert hit.chunk.section.endswith("第二条") and "key" in hit.signals
        assert hit.chunk.text.startswith("第二条")  # the reply quotes the document, not the key
        # the same question again is not a second key
        assert add_keys(kb, [(target.chunk_id, "逾期了报征信之前会通知我吗", "trainer:李")]) == []


def test_added_keys_survive_a_re_ingest_and_are_removed_by_origin_with_their_vectors(tmp_path):
    with _kb(tmp_path) as kb:
        ingest_bytes(kb, "rules.md", CREDIT.encode())
        target = _chunk(kb, "征信规则", "第二条")
        add_keys(kb, [(target.chunk_id, "逾期了报征信之前会通知我吗", "accepted:17"),
                      (target.chunk_id, "不良记录保存几年", "trainer:李")])
        changed = CREDIT.replace("制定本规则", "制定本规则（修订）")
        assert ingest_bytes(kb, "rules.md", changed.encode()).ok
        again = _chunk(kb, "征信规则", "第二条")
        assert set(again.meta["keys"]) == {"逾期了报征信之前会通知我吗", "不良记录保存几年"}
        entries = [f"{again.chunk_id}#k{i}" for i in range(2)]
        assert len(kb.store.vectors(entries)) == 2

        assert remove_keys(kb, "accepted:17") == 1
        after = kb.get_chunk(again.chunk_id)
        assert after.meta["keys"] == ["不良记录保存几年"]
        assert after.meta["key_origins"] == {"不良记录保存几年": "trainer:李"}
        assert list(kb.store.vectors(entries)) == [entries[0]]  # the second entry's vector is gone
        assert [k.origin for k in list_keys(kb)] == ["trainer:李"]


def test_bad_keys_are_refused_and_nothing_is_stored(tmp_path):
    with _kb(tmp_path) as kb:
        ingest_bytes(kb, "rules.md", CREDIT.encode())
        target = _chunk(kb, "征信规则", "第二条")
        good = (target.chunk_id, "逾期了报征信之前会通知我吗", "trainer:李")
        with pytest.raises(ValidationError):
            add_keys(kb, [good, (target.chunk_id, "   ", "trainer:李")])
        with pytest.raises(ValidationError):
            add_keys(kb, [good, (target.chunk_id, "别的问法", "from somewhere")])
        with pytest.raises(NotFoundError):
            add_keys(kb, [good, ("no-such-chunk", "别的问法", "trainer:李")])
        with pytest.raises(ValidationError):
            remove_keys(kb, " ")
        assert list_keys(kb) == [] and "keys" not in kb.get_chunk(target.chunk_id).meta


def test_a_personal_number_in_a_key_is_masked(tmp_path):
    with _kb(tmp_path) as kb:
        ingest_bytes(kb, "rules.md", CREDIT.encode())
        target = _chunk(kb, "征信规则", "第二条")
        (key,) = add_keys(kb, [(target.chunk_id, "我手机13812345678逾期了会上报吗", "trainer:李")])
        assert "13812345678" not in key.question
        assert "13812345678" not in str(kb.get_chunk(target.chunk_id).meta)


TRAVEL_QUESTIONS = [("买了票去不了怎么办", "第一条"), ("箱子太重要多交钱吗", "第二条"), ("东西落在车站了去哪找", "第三条")]


def test_keys_on_one_document_do_not_push_another_documents_answers_down(tmp_path):
    """The fairness the issue asks for, kept in the suite: a statute with many lay keys beside a
    document without any; the unkeyed document's answers keep their ranks."""
    keys = tmp_path / "keys.yaml"
    phrasings = ["逾期了报征信之前会通知我吗", "上报不良记录前要先告诉我吗", "你们报征信前打招呼吗",
                 "没通知我就上报征信合法吗", "不良信息报送前告知本人吗", "欠款没还会不会被偷偷上报"]
    keys.write_text(yaml.safe_dump([{"source": "rules", "sections": {"第二条": phrasings, "第三条": [
        "逾期记录多久能消", "不良记录保存几年", "征信污点几年后没了", "黑名单要挂多久"]}}], allow_unicode=True), "utf-8")
    ranks = {}
    for label, spec in (("without", ""), ("with", str(keys))):
        with _kb(tmp_path, label, question_keys=spec) as kb:
            ingest_bytes(kb, "rules.md", CREDIT.encode())
            ingest_bytes(kb, "travel.md", TRAVEL.encode())
            ranks[label] = [_rank(kb, q, "出行服务规定", art) for q, art in TRAVEL_QUESTIONS]
            if label == "with":
                assert _rank(kb, LAY, "征信规则", "第二条") == 1  # the keys still do their work
    assert ranks["with"] == ranks["without"]
    assert all(r is not None for r in ranks["with"])

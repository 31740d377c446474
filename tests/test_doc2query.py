"""Questions generated for each section by a configured LLM (doc2query), added as keys marked
generated:<model>, against an OpenAI-compatible endpoint on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from api.cli import main
from ingest.doc2query import parse_questions
from kb.keys import list_keys
from kb.knowledge import KnowledgeBase
from kb.settings import Settings, get_settings
from kb.types import Chunk, Document, make_chunk_id, make_doc_id
from tests.test_compose_llm import StandInLLM


@pytest.fixture(autouse=True)
def fresh_settings():
    """The CLI reads the environment once per process (kb.settings.get_settings): read it again."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(args, env):
    get_settings.cache_clear()
    return CliRunner().invoke(main, args, env=env)


TEXT = "客户结清全部借款后，可以通过在线客服申请注销账户，注销后不可恢复。"


def test_numbering_and_bullets_are_dropped_and_at_most_n_kept():
    text = "1. 我不用了能销户吗？\n- 销户以后还能恢复吗\n（3）怎么注销账户\n\n4、注销要多久"
    assert parse_questions(text, 3) == ["我不用了能销户吗？", "销户以后还能恢复吗", "怎么注销账户"]


def test_generated_questions_become_keys_marked_generated_and_a_failing_model_adds_nothing(tmp_path):
    data = tmp_path / "data"
    with KnowledgeBase.open(Settings(data_dir=data), writer=True) as kb:
        did = make_doc_id("close.md")
        kb.upsert_document(Document(did, "注销账户", "procedure", "close.md", TEXT, {}),
                           [Chunk(make_chunk_id(did, TEXT, "第一条"), did, TEXT, section="第一条")])
    with StandInLLM() as llm:
        env = {"CITEDESK_LLM_BASE_URL": llm.url, "CITEDESK_LLM_MODEL": "stand-in", "CITEDESK_LLM_API_KEY": "k"}
        llm.status = 500
        failed = run(["question-keys", "generate", "--json", "--data-dir", str(data)], env)
        assert failed.exit_code == 0, failed.output
        assert json.loads(failed.output) == {"chunks": 1, "keys_added": 0, "failed": 1}
        llm.status = 200
        llm.reply = "1. 我不用了能销户吗？\n2. 销户以后还能恢复吗\n3. 我手机13812345678的账户怎么注销"
        done = run(["question-keys", "generate", "--json", "--data-dir", str(data)], env)
        assert json.loads(done.output) == {"chunks": 1, "keys_added": 3, "failed": 0}
        assert TEXT in llm.requests[-1]  # the model read the passage
        again = run(["question-keys", "generate", "--json", "--data-dir", str(data)], env)
        assert json.loads(again.output)["chunks"] == 0  # a chunk with generated keys is not asked again
    with KnowledgeBase.open(Settings(data_dir=data)) as kb:
        keys = list_keys(kb, "generated")
        assert {k.origin for k in keys} == {"generated:stand-in"} and len(keys) == 3
        assert not any("13812345678" in k.question for k in keys)  # masked like every key
        assert kb.search("销户以后还能恢复吗", k=1)[0].signals.get("key") is not None


def test_without_an_endpoint_generation_says_what_to_configure(tmp_path):
    res = run(["question-keys", "generate", "--data-dir", str(tmp_path)], {"CITEDESK_LLM_BASE_URL": "", "CITEDESK_LLM_MODEL": ""})
    assert res.exit_code == 2 and "CITEDESK_LLM_BASE_URL" in res.output

"""The Answerer with an LLM composer, against a real HTTP server on 127.0.0.1 speaking the OpenAI
and Ollama chat protocols: replies verified sentence by sentence, failures falling back to the
extractive reply, personal numbers never sent."""

from __future__ import annotations

import json
import logging

import pytest
from test_answering import ID_CARD, MOBILE, answerer, cited_numbers, kb  # noqa: F401 - module fixtures
from test_compose_llm import StandInLLM

from kb.answer.pipeline import Answerer

# -- the LLM path, against a real HTTP server on 127.0.0.1 ----------------------------------


@pytest.fixture
def llm():
    with StandInLLM() as server:
        yield server


def llm_answerer(kb, server, **kw):
    url = server.root if kw.get("llm_provider") == "ollama" else server.url
    settings = kb.settings.model_copy(
        update={"llm_base_url": url, "llm_model": "stand-in", "llm_api_key": "k", **kw}
    )
    return Answerer(kb, settings)


def test_llm_reply_is_verified(kb, llm):
    llm.reply = (
        "您好，很高兴为您服务。"  # an LLM greeting without a marker: dropped
        "贷款机构不能提前从本金里把利息扣掉[1]。"  # supported paraphrase: kept
        "如果利息被提前扣了，按实际拿到的金额还款并计息[1][9]。"  # [9] names no source
        "逾期超过90天将收取百分之五十的罚息[1]。"  # invented numbers: dropped
        "您还可以申请免除全部利息[2]。"  # unsupported by its source: dropped
    )
    a = llm_answerer(kb, llm).ask("借钱时利息可以先从本金里扣掉吗？")
    assert a.mode == "llm" and not a.abstained
    assert "贷款机构不能提前从本金里把利息扣掉[1]" in a.text
    assert "[9]" not in a.text and "90天" not in a.text and "免除全部利息" not in a.text
    assert "很高兴为您服务" not in a.text and a.text.startswith("您好，")
    assert "逾期超过90天将收取百分之五十的罚息。" in a.dropped and "您还可以申请免除全部利息。" in a.dropped
    assert cited_numbers(a.text) == {c.n for c in a.citations} == set(range(1, len(a.citations) + 1))


def test_llm_forbidden_promise_is_removed(kb, llm):
    llm.reply = "借款的利息不得预先在本金中扣除[1]。我们保证通过，不查征信[1]。"
    a = llm_answerer(kb, llm).ask("利息能先从本金里扣吗？")
    assert "保证通过" not in a.text
    assert {"compliance:guaranteed_approval", "compliance:no_credit_check"} <= set(a.flags)


@pytest.mark.parametrize("setup", [{"status": 503}, {"delay": 2.0}, {"reply": "好的。"}])
def test_llm_failure_falls_back_to_the_extractive_reply(kb, llm, setup):
    for k, v in setup.items():
        setattr(llm, k, v)
    a = llm_answerer(kb, llm, llm_timeout=0.5).ask("借钱时利息可以先从本金里扣掉吗？")
    assert "llm_unavailable" in a.flags and a.mode == "extractive"
    assert "借款的利息不得预先在本金中扣除[1]" in a.text




def test_personal_numbers_in_a_question_do_not_change_its_answer(answerer):
    # the clauses that only give a number are not searched: 身份证 and 电话 would pull in other
    # chunks and make a plain question look unanswerable
    plain = answerer.ask("利息能先从本金里扣吗？")
    a = answerer.ask(f"我的身份证是{ID_CARD}，电话{MOBILE}，利息能先从本金里扣吗？")
    assert not plain.abstained and not a.abstained and "pii_masked" in a.flags
    assert a.citations[0].section == plain.citations[0].section == "第六百七十条"
    assert ID_CARD not in a.question and "[身份证号]" in a.question


@pytest.mark.parametrize("provider", ["openai_like", "ollama"])
def test_llm_request_holds_only_the_masked_question(kb, llm, caplog, provider):
    caplog.set_level(logging.DEBUG)
    llm.reply = "借款的利息不得预先在本金中扣除[1]。"
    a = llm_answerer(kb, llm, llm_provider=provider).ask(f"我的身份证是{ID_CARD}，电话{MOBILE}，利息能先从本金里扣吗？")
    assert "pii_masked" in a.flags and llm.requests
    for body in llm.requests:
        assert ID_CARD not in body and MOBILE not in body
        assert "[身份证号]" in json.loads(body)["messages"][-1]["content"]
    assert not any(ID_CARD in r.getMessage() for r in caplog.records)


def test_unreachable_llm_falls_back(kb):
    with StandInLLM() as server:
        pass  # closed: the port now refuses connections
    a = llm_answerer(kb, server).ask("借钱时利息可以先从本金里扣掉吗？")
    assert "llm_unavailable" in a.flags and a.citations



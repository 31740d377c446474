"""A number the customer calls an identity number: masked whatever its check digit, and an
account question that gives one is sent to the business system like one that does not."""

from __future__ import annotations

import json
import logging

import pytest
from stdnum.cn import ric
from test_answering import answerer, kb  # noqa: F401 - the small knowledge base's fixtures
from test_compose_llm import StandInLLM

from kb.answer.guards import load_guards
from kb.answer.pipeline import Answerer, answer_to_dict
from kb.bundles import shipped
from kb.text.pii import ID_MASK, mask, mask_pii

WRONG_CHECK = "110105194912310021"  # an ID number mistyped in its last digit
GUARDS = load_guards((shipped("credit_cs"),))


def test_the_number_is_a_mistyped_id():
    assert not ric.is_valid(WRONG_CHECK) and ric.is_valid("11010519491231002X")


@pytest.mark.parametrize("text, masked", [
    (f"我的身份证号是{WRONG_CHECK}，帮我查一下还款日", f"我的身份证号是{ID_MASK}，帮我查一下还款日"),
    (f"身份证 {WRONG_CHECK[:6]} {WRONG_CHECK[6:14]} {WRONG_CHECK[14:]}", f"身份证 {ID_MASK}"),
    (f"证件号码：{WRONG_CHECK[:-1]}", f"证件号码：{ID_MASK}"),  # 17 digits: one left out
    ("身份證號碼為１１０１０５１９４９１２３１００２１。", f"身份證號碼為{ID_MASK}。"),  # Traditional, full-width digits
    (f"My ID number is {WRONG_CHECK}, when is my due date?", f"My ID number is {ID_MASK}, when is my due date?"),
    (f"ID card no. {WRONG_CHECK[:15]}", f"ID card no. {ID_MASK}"),
])
def test_a_number_called_an_id_number_is_masked_whatever_its_check_digit(text, masked):
    result = mask_pii(text)
    assert result.text == masked and result.found == {"id_card": 1}


def test_a_mobile_or_card_after_the_label_is_masked_as_what_it_is():
    assert mask("身份证和手机号都换了新的13812345678") == "身份证和手机号都换了新的[手机号]"
    card = "6222021234567894"  # Luhn-valid
    assert mask(f"身份证绑定的卡{card}扣款失败") == "身份证绑定的卡[银行卡号]扣款失败"


@pytest.mark.parametrize("text", [
    f"合同号{WRONG_CHECK}",  # not called an ID: a checksum failure means it is something else
    f"身份证办好了，合同号{WRONG_CHECK}",  # the label is in another clause
    "身份证过期了3天还能借款吗",  # no number
    "身份证号后四位是1234",  # the last four digits agents verify with
    f"order id {WRONG_CHECK[:8]}",
])
def test_other_numbers_stay_readable(text):
    assert mask(text) == text


@pytest.mark.parametrize("question", [
    f"我的身份证号是{WRONG_CHECK}，帮我查一下还款日",
    f"帮我查一下还款日，身份证{WRONG_CHECK}",
    "我的身份证号是11010519491231002X，能不能帮我看一下这个月还多少",
    f"My ID number is {WRONG_CHECK}, can you check my due date?",
])
def test_giving_an_id_number_and_asking_to_look_something_up_is_an_account_request(question):
    assert GUARDS.account_request(mask(question)) is not None


@pytest.mark.parametrize("question", [
    f"我的身份证号{WRONG_CHECK}被人冒用了怎么办",
    f"我的身份证号是{WRONG_CHECK}，利息能先从本金里扣吗？",
])
def test_an_id_number_in_a_question_about_the_rules_is_not_an_account_request(question):
    assert GUARDS.account_request(mask(question)) is None


def test_an_account_question_with_an_id_number_gets_the_business_system_reply(answerer, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    plain = answerer.ask("帮我查一下我的还款日是哪天")
    with_id = answerer.ask(f"我的身份证号是{WRONG_CHECK}，帮我查一下还款日")
    for a in (plain, with_id):
        assert a.abstained and a.abstain_reason == "account_lookup" and a.confidence == 0.0
        assert "业务系统" in a.text and "核实客户身份" in a.text
    assert with_id.text == plain.text
    assert with_id.question == f"我的身份证号是{ID_MASK}，帮我查一下还款日" and "pii_masked" in with_id.flags
    assert WRONG_CHECK not in json.dumps(answer_to_dict(with_id), ensure_ascii=False)
    assert not any(WRONG_CHECK in r.getMessage() for r in caplog.records)


def test_a_mistyped_id_number_never_reaches_the_model(kb, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    with StandInLLM() as llm:
        llm.reply = "借款的利息不得预先在本金中扣除[1]。"
        settings = kb.settings.model_copy(update={"llm_base_url": llm.url, "llm_model": "stand-in", "llm_api_key": "k"})
        a = Answerer(kb, settings).ask(f"我的身份证号是{WRONG_CHECK}，利息能先从本金里扣吗？")
    assert a.mode == "llm" and llm.requests
    for body in llm.requests:
        assert WRONG_CHECK not in body and ID_MASK in json.loads(body)["messages"][-1]["content"]
    assert not any(WRONG_CHECK in r.getMessage() for r in caplog.records)


def test_a_mistyped_id_number_is_not_stored(tmp_path):
    from _api_support import build_kb, settings_for, start

    settings = settings_for(tmp_path / "data")
    build_kb(settings)
    with start(settings) as api:
        r = api.client.post("/api/ask", headers=api.auth("agent"),
                            json={"question": f"身份证号{WRONG_CHECK}，帮我查一下提前还款"})
        assert r.status_code == 200 and r.json()["abstain_reason"] == "account_lookup"
        stored = api.records.get_interaction(r.json()["interaction_id"])
        assert ID_MASK in stored.question and WRONG_CHECK not in stored.question + stored.answer
        fb = api.client.post("/api/feedback", headers=api.auth("agent"), json={
            "interaction_id": r.json()["interaction_id"], "verdict": "edited",
            "edited_reply": f"已核实身份证号{WRONG_CHECK}，请到业务系统查询。"})
        assert fb.status_code < 300
    for f in (tmp_path / "data").rglob("*"):
        if f.is_file():
            assert WRONG_CHECK.encode() not in f.read_bytes(), f.name

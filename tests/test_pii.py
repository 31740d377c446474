from stdnum import luhn
from stdnum.cn import ric

from kb.text.pii import (
    CARD_MASK,
    EMAIL_MASK,
    ID_MASK,
    MOBILE_MASK,
    mask,
    mask_pii,
    public_contact_key,
    without_personal_numbers,
)

VALID_ID = "11010519491231002X"


def _valid_card() -> str:
    body = "622202123456789"
    return body + luhn.calc_check_digit(body)


def test_fixture_numbers_are_what_they_claim():
    assert ric.is_valid(VALID_ID)
    assert not ric.is_valid("110105194912310021")
    assert luhn.is_valid(_valid_card())


def test_valid_id_card_is_masked_plain_and_grouped():
    assert mask(f"我的身份证是{VALID_ID}，请查一下") == f"我的身份证是{ID_MASK}，请查一下"
    assert mask("身份证 110105 19491231 002x") == f"身份证 {ID_MASK}"


def test_invalid_id_checksum_is_not_masked():
    # an 18-digit contract number must stay readable
    text = "合同号110105194912310021"
    result = mask_pii(text)
    assert result.text == text and not result.masked


def test_valid_bank_card_is_masked_with_or_without_spaces():
    card = _valid_card()
    grouped = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    assert mask(f"卡号{card}") == f"卡号{CARD_MASK}"
    assert mask(f"卡号 {grouped} 扣款失败") == f"卡号 {CARD_MASK} 扣款失败"


def test_invalid_bank_card_is_not_masked():
    card = _valid_card()
    wrong = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert mask(f"卡号{wrong}") == f"卡号{wrong}"


def test_mobile_and_email_are_masked():
    result = mask_pii("电话+86 138-1234-5678，邮箱zhang.san@example.com")
    assert result.text == f"电话{MOBILE_MASK}，邮箱{EMAIL_MASK}"
    assert result.found == {"mobile": 1, "email": 1}


def test_the_organisations_published_contacts_can_be_kept():
    keep = frozenset(public_contact_key(v) for v in ["Complaint@Lender.example", "@service.lender.example", "+86 139-0000-1234"])
    text = ("投诉邮箱Complaint@lender.example，客服help@service.lender.example，热线13900001234；"
            "客户邮箱zhang.san@example.com，手机13812345678")
    result = mask_pii(text, keep)
    assert "Complaint@lender.example" in result.text and "help@service.lender.example" in result.text
    assert "13900001234" in result.text
    assert "zhang.san" not in result.text and "13812345678" not in result.text
    assert result.found == {"email": 1, "mobile": 1}
    assert mask_pii("x@service.lender.example.evil.com", keep).text == EMAIL_MASK  # a domain is kept exactly, not as a prefix


def test_amounts_and_dates_are_left_alone():
    text = "我借了15000元，2024年3月15日到期，年化利率7.2%"
    assert mask(text) == text


def test_the_search_leaves_out_clauses_that_only_give_a_personal_number():
    masked = mask(f"我的身份证是{VALID_ID}，电话13812345678，利息能先扣吗？")
    assert without_personal_numbers(masked) == "利息能先扣吗？"
    assert without_personal_numbers(mask("My phone is 13812345678, can I repay early?")) == "can I repay early?"
    # a clause that says more than the number keeps its words, without the mask
    card = mask(f"我用尾号是{_valid_card()}的那张卡自动还款失败了怎么办")
    assert CARD_MASK in card and without_personal_numbers(card) == "我用尾号是的那张卡自动还款失败了怎么办"
    # nothing else to go on: the question without its masks; no mask: unchanged
    assert without_personal_numbers(mask("我的手机13812345678")) == "我的手机"
    assert without_personal_numbers("利息能先扣吗") == "利息能先扣吗"


def test_numbers_in_full_width_and_other_digit_forms_are_masked():
    # what Chinese input methods produce, and digits of other scripts
    card = _valid_card()
    wide = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
    assert mask("电话１３７５５６６７７８８") == f"电话{MOBILE_MASK}"
    assert mask(f"身份证{VALID_ID.translate(wide)}") == f"身份证{ID_MASK}"
    assert mask(f"卡号{card.translate(wide)}扣款失败") == f"卡号{CARD_MASK}扣款失败"
    assert mask("号码 ١٣٧٥٥٦٦٧٧٨٨ 谢谢") == f"号码 {MOBILE_MASK} 谢谢"
    assert mask("邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ请回复") == f"邮箱{EMAIL_MASK}请回复"


def test_zero_width_characters_do_not_hide_a_number():
    assert mask("手机13\u200b755\u200d66\u2060778\ufeff8") == f"手机{MOBILE_MASK}"
    assert mask(f"身份证{VALID_ID[:9]}\u200b{VALID_ID[9:]}") == f"身份证{ID_MASK}"


def test_country_prefixes_letters_old_ids_and_separators():
    assert mask("0086 13755667788") == MOBILE_MASK
    assert mask("+86-137-5566-7788") == MOBILE_MASK
    assert mask("008613755667788") == MOBILE_MASK
    assert mask(f"身份证{VALID_ID}abc") == f"身份证{ID_MASK}abc"
    assert mask(f"ID{VALID_ID}") == f"ID{ID_MASK}"
    assert mask("老身份证110105491231002") == f"老身份证{ID_MASK}"  # 15 digits: 1949-12-31, 东城区
    assert mask("110105491331002") == "110105491331002"  # month 13: not an ID
    assert mask("137 5566 7788") == MOBILE_MASK
    assert mask("1101-0519-4912-3100-2X") == ID_MASK
    assert mask("110 105 1949 1231 002X") == ID_MASK


def test_text_around_a_mask_is_returned_as_given():
    # full-width punctuation and letters outside the number are not normalised
    assert mask("请问，我的电话１３７５５６６７７８８？") == f"请问，我的电话{MOBILE_MASK}？"
    assert mask("利息能先扣吗？") == "利息能先扣吗？"

"""Cleaning: the real scraped seed regulation comes out without site boilerplate or pinyin."""

from __future__ import annotations

import re

from ingest.clean import clean_text, collapse_whitespace, split_info_header, strip_boilerplate, strip_pinyin
from kb.text.norm import standard_chinese, to_simplified

BOILERPLATE = ["_第1頁", "已閱讀", "下載本文檔", "版權說明", "文檔簡介", "溫馨提示", "最新文檔", "評論", "0/150", "提交評論",
               "人人文庫網", "WinRAR"]  # fmt: skip
PINYIN = re.compile(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+\)")


def test_seed_loses_boilerplate_and_pinyin_but_keeps_the_outline(seed_file):
    raw = seed_file.read_text(encoding="utf-8")
    assert "規(guī)" in raw and "溫馨提示" in raw  # the input really is messy
    text = clean_text(raw)
    for junk in BOILERPLATE:
        assert junk not in text, junk
    assert not PINYIN.search(text)
    assert "\ue4a5" in raw and not any(0xE000 <= ord(ch) <= 0xF8FF for ch in text)  # private-use glyphs go
    # the body and its one-line outline survive, in the original (Traditional) script
    assert text.startswith("信貸公司智能客服管理規定")
    for marker in ["一、總則", "(一)目的本規定旨在規范", "二、人員管理", "1.招聘標準:", "八、企業文化建設"]:
        assert marker in text, marker
    assert "管理規定" in text and "管理規(guī)定" not in text
    assert text.rstrip().endswith("營造良好的工作")  # everything after 溫馨提示 is gone, nothing before it


def test_pinyin_stripping_keeps_real_parentheses():
    assert strip_pinyin("規(guī)定與(yǔ)說明") == "規定與說明"
    kept = "(一)目的 (1)范围 客户(含担保人)须知 版本(v2) 利率(单利) see (a) note 费用(fee)"
    assert strip_pinyin(kept) == kept


def test_boilerplate_is_recognised_in_simplified_script_too():
    text = "客服管理规定_第1页\n已阅读3页,还剩1页未读\n下载本文档\n正文第一句。\n温馨提示\n1. 本站资源"
    assert strip_boilerplate(text) == "正文第一句。"


def test_nfkc_and_whitespace():
    text = clean_text("\ufeffＡＢＣ　１２３\t\t利率：７．２％\n\n\n\n下一段  ")
    assert text == "ABC 123 利率:7.2%\n\n下一段"
    assert collapse_whitespace("a \r\n\r\n\r\n b") == "a\n\nb"


def test_statute_info_header_is_metadata_not_body(corpora_dir):
    raw = (corpora_dir / "regulations_zh" / "征信业管理条例.md").read_text(encoding="utf-8")
    info, body = split_info_header(raw)
    assert info.title == "征信业管理条例"
    assert info.effective_date == "2013-03-15"  # the 施行 date, not the adoption date
    assert "国务院第228次常务会议通过" not in body and "INFO END" not in body
    assert "第一条" in body
    # a header without 施行 takes its latest date (the last amendment)
    info, _ = split_info_header("# 某法\n\n2003年12月27日 通过\n\n2006年10月31日 修正\n\n<!-- INFO END -->\n正文")
    assert info.effective_date == "2006-10-31"
    assert split_info_header("no header here") == (None, "no header here")


def test_cleaned_seed_reads_as_simplified_after_normalisation(seed_file):
    text = clean_text(seed_file.read_text(encoding="utf-8"))
    assert "信贷公司智能客服管理规定" in to_simplified(text)


def test_written_cantonese_becomes_standard_chinese_in_the_customers_script():
    assert standard_chinese("我啲貸款已經還清咗，你哋仲留住我嘅資料做咩？") == "我的貸款已經還清了，你們還留住我的資料為什麼？"
    assert standard_chinese("我啲贷款还清咗，点解你哋仲收我钱？") == "我的贷款还清了，为什么你们还收我钱？"
    assert standard_chinese("阿叔而家話要我全數還晒，我可唔可以遲啲先還？") == "阿叔現在說要我全數還完，我可不可以晚些先還？"


def test_cantonese_vocabulary_and_place_words():
    assert standard_chinese("我屋企人嗰陣話喺你哋度借過錢，可唔可以睇返份合同？") == "我家人那時候說在你們那裡借過錢，可不可以查看份合同？"
    assert standard_chinese("佢舊年過咗身，冇講明邊種擔保") == "他舊年去世了，沒有說明哪種擔保"
    # 度 after a person is a place only when no standard word follows: 度假 stays, as does 電話
    assert standard_chinese("我哋去度假嗰陣打咗電話") == "我們去度假那時候打了電話"


def test_standard_chinese_is_left_alone():
    for text in ("仲裁委员会认定双方的关系", "我的贷款已经还清了，为什么还收钱？", "維係關係，仲介費", "What is the rate?"):
        assert standard_chinese(text) == text
    # a Cantonese question keeps the standard words it shares: 仲裁 and 關係 are not 還裁 or 關是
    assert standard_chinese("佢哋話要去仲裁，同我哋冇關係") == "他們說要去仲裁，同我們沒有關係"

"""The translation catalogue: both languages complete, every key the pages use exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ui.i18n import CATALOGUE, LANGS, js_strings, normalise_lang, translate

UI = Path(__file__).resolve().parent.parent / "ui"


def test_every_key_has_a_non_empty_string_in_both_languages():
    zh, en = CATALOGUE["zh-CN"], CATALOGUE["en"]
    assert set(zh) == set(en)
    for lang in LANGS:
        empty = [k for k, v in CATALOGUE[lang].items() if not v.strip()]
        assert not empty, f"{lang}: empty strings for {empty}"
    # Chinese really is Chinese: the zh-CN navigation is not a copy of the English one
    assert zh["nav.sidebar"] != en["nav.sidebar"]
    assert re.search(r"[\u4e00-\u9fff]", zh["js.abstained"])


def test_placeholders_match_between_languages():
    for key in CATALOGUE["en"]:
        zh = set(re.findall(r"{(\w+)}", CATALOGUE["zh-CN"][key]))
        en = set(re.findall(r"{(\w+)}", CATALOGUE["en"][key]))
        assert zh == en, key


def test_every_key_used_by_a_template_or_script_exists():
    used: set[str] = set()
    for path in (UI / "templates").rglob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*['"]([\w.]+)['"]""", path.read_text(encoding="utf-8")))
    for path in (UI / "static" / "js").glob("*.js"):
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", path.read_text(encoding="utf-8")))
    assert len(used) > 100
    prefixes = {k for k in used if k.endswith(".")}  # t('kind.' ~ d.kind): a family of keys
    missing = sorted(k for k in used - prefixes if k not in CATALOGUE["en"])
    missing += sorted(p for p in prefixes if not any(k.startswith(p) for k in CATALOGUE["en"]))
    assert not missing, f"keys used but not in the catalogue: {missing}"
    for role in ("agent", "trainer", "admin"):
        assert f"role.{role}" in CATALOGUE["en"]
    scripts = {k for k in used - prefixes if k.startswith("js.")}
    assert scripts <= set(js_strings("en")), "the scripts receive every js.* string"


def test_translate_fills_placeholders_and_refuses_unknown_keys():
    assert translate("js.latency", "en", ms=42) == "42 ms"
    assert translate("js.latency", "zh-CN", ms=42) == "耗时 42 毫秒"
    assert translate("js.abstained", "zh-CN") == "知识库中没有依据 — 请升级处理"
    with pytest.raises(KeyError):
        translate("no.such.key", "en")


@pytest.mark.parametrize(("given", "expected"), [("en", "en"), ("en-US", "en"), ("zh", "zh-CN"),
                                                 ("zh-CN", "zh-CN"), ("fr", None), ("", None), (None, None)])
def test_language_codes(given, expected):
    assert normalise_lang(given) == expected

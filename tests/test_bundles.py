"""Bundles: the data about particular documents and companies, loaded by configuration."""

from __future__ import annotations

import pytest

from kb.answer.compliance import check_compliance, load_rules
from kb.answer.guards import load_guards
from kb.bundles import DEFAULT_BUNDLES, load_bundles, shipped
from kb.errors import ConfigError
from kb.text.lexicon import load_lexicon


def _bundle(folder, name="acme", **files):
    folder.mkdir(parents=True)
    (folder / "bundle.yaml").write_text(f"name: {name}\ndescription: a test company\n", encoding="utf-8")
    for rel, text in files.items():
        path = folder / rel.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def test_unset_loads_the_shipped_defaults_and_empty_loads_none():
    assert tuple(b.name for b in load_bundles(None)) == DEFAULT_BUNDLES
    assert load_bundles("") == ()


def test_a_company_bundle_is_loaded_by_path_beside_the_shipped_ones(tmp_path):
    own = _bundle(tmp_path / "acme")
    bundles = load_bundles(f"credit_cs,{own}")
    assert [b.name for b in bundles] == ["credit_cs", "acme"]
    assert bundles[1].part("lexicon.yaml") is None  # a part the bundle does not have


@pytest.mark.parametrize("spec", ["no-such-bundle", "/nowhere/at/all"])
def test_an_unknown_bundle_is_a_clear_error_naming_the_shipped_ones(spec):
    with pytest.raises(ConfigError, match="credit_cs"):
        load_bundles(spec)


def test_a_folder_without_bundle_yaml_or_a_name_twice_is_refused(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="no bundle.yaml"):
        load_bundles(str(tmp_path / "plain"))
    twin = _bundle(tmp_path / "twin", name="credit_cs")
    with pytest.raises(ConfigError, match="named twice"):
        load_bundles(f"credit_cs,{twin}")


def test_a_company_lexicon_adds_its_words_to_the_shipped_ones(tmp_path):
    own = _bundle(tmp_path / "acme", **{"lexicon.yaml": "entries:\n- {lay: [乐分期], legal: [分期付款]}\n"})
    lexicon = load_lexicon(load_bundles(f"regulations_zh,{own}"))
    assert "分期付款" in lexicon.expansion_terms("乐分期怎么还")
    assert "保证人" in lexicon.expansion_terms("帮朋友当担保人")  # the shipped entries still fire
    assert load_lexicon(load_bundles("credit_cs")).expansion_terms("乐分期怎么还") == []


def test_a_malformed_lexicon_stops_the_load_with_its_file_named(tmp_path):
    own = _bundle(tmp_path / "acme", **{"lexicon.yaml": "entries:\n- {lay: [乐分期]}\n"})
    with pytest.raises(ConfigError, match="lexicon.yaml"):
        load_lexicon(load_bundles(str(own)))


def test_a_company_guard_pattern_joins_the_shipped_ones(tmp_path):
    own = _bundle(tmp_path / "acme", **{"rules__guards.yaml": "company_practice:\n  - '乐分期[^,。?]{0,6}(积分|会员)'\n"})
    shipped_only = load_guards((shipped("credit_cs"),))
    both = load_guards((shipped("credit_cs"), *load_bundles(str(own))))
    question = "乐分期的会员有什么用"
    assert shipped_only.company_practice_phrase(question) is None
    assert both.company_practice_phrase(question) == "乐分期的会员"
    assert both.complaint_signals("我要投诉你们") == ["complaint"]  # the shipped guards still work
    assert load_guards(()).complaint_signals("我要投诉你们") == []  # no bundles, no guards


def test_a_bad_guard_file_is_a_clear_error(tmp_path):
    own = _bundle(tmp_path / "acme", **{"rules__guards.yaml": "complaints:\n  - '投诉'\n"})
    with pytest.raises(ConfigError, match="unknown guards"):
        load_guards(load_bundles(str(own)))
    bad = _bundle(tmp_path / "bad", name="bad", **{"rules__guards.yaml": "account_lookup:\n  - '(查'\n"})
    with pytest.raises(ConfigError, match="invalid regular expression"):
        load_guards(load_bundles(str(bad)))


def test_compliance_rules_of_two_bundles_apply_together_and_ids_may_not_repeat(tmp_path):
    rule = "- id: {id}\n  type: forbidden_phrase\n  patterns: ['零利率']\n  message: 不得宣传零利率。\n"
    own = _bundle(tmp_path / "acme", **{"rules__compliance.yaml": rule.format(id="zero_rate")})
    rules = load_rules(bundles=(shipped("credit_cs"), *load_bundles(str(own))))
    result = check_compliance(["本产品零利率。", "保证通过。"], rules)
    assert result.violations == ["guaranteed_approval", "zero_rate"] and result.kept == []
    clash = _bundle(tmp_path / "clash", name="clash", **{"rules__compliance.yaml": rule.format(id="insider_channel")})
    with pytest.raises(ConfigError, match="insider_channel"):
        load_rules(bundles=(shipped("credit_cs"), *load_bundles(str(clash))))

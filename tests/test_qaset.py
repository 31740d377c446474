"""Q&A-set format: loading, validation errors with their line/row, CSV/XLSX import, round trips."""

from __future__ import annotations

import openpyxl
import pytest

from evals.qaset import ExpectedSource, dump_qaset, load_qaset, parse_qaset
from kb.errors import ValidationError

GOOD = """\
name: demo
description: 演示集
items:
  - id: demo-001
    question: 随心贷利息多少啊，年化是多少
    reference_answer: 随心贷的年化利率（单利）为7.2%至18%。
    key_points: ["7.2%", "18%"]
    expected_sources:
      - title: 随心贷产品说明
        section: 利率与费用
    answerable: true
    topic: 利率与费用
    tags: [随心贷, 口语]
    author: 培训组
    reviewed: 2026-11-20
    grades: []
  - id: demo-002
    question: 你们能帮我查别人的征信吗
    answerable: false
    topic: 拒答
"""


def test_yaml_set_loads_with_all_fields(tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(GOOD, encoding="utf-8")
    qs = load_qaset(path)
    assert qs.name == "demo" and len(qs.items) == 2
    first = qs.items[0]
    assert first.key_points == ["7.2%", "18%"]
    assert first.expected_sources == [ExpectedSource(title="随心贷产品说明", section="利率与费用")]
    assert first.reviewed == "2026-11-20"
    assert qs.items[1].answerable is False and qs.items[1].key_points == []


def test_yaml_error_names_file_line_and_item(tmp_path):
    bad = GOOD.replace('key_points: ["7.2%", "18%"]', "key_points: 7.2%")
    path = tmp_path / "demo.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        load_qaset(path)
    assert str(exc.value) == "demo.yaml line 7: item demo-001: key_points must be a list of strings"


def test_duplicate_ids_and_answerability_rules_are_all_reported():
    text = GOOD + """\
  - id: demo-001
    question: 重复的编号
    key_points: [x]
  - id: demo-004
    question: 既无要点也无来源
  - id: demo-005
    question: 不可回答却给了要点
    answerable: false
    key_points: [y]
"""
    with pytest.raises(ValidationError) as exc:
        parse_qaset(text, "yaml", source="s.yaml")
    errors = exc.value.errors
    assert errors[0] == "s.yaml line 21: item demo-001: duplicate id (first at line 4)"
    assert errors[1] == "s.yaml line 24: item demo-004: an answerable item needs key_points or expected_sources"
    assert errors[2].startswith("s.yaml line 26: item demo-005: an unanswerable item")
    assert len(errors) == 3


def test_unknown_field_and_bad_grade_are_rejected():
    text = GOOD.replace("grades: []", "grades: [{grade: good}]").replace("topic: 利率与费用", "topik: 利率与费用")
    with pytest.raises(ValidationError) as exc:
        parse_qaset(text, "yaml")
    msgs = exc.value.errors
    assert any(m.startswith("line 12: item demo-001: unknown field 'topik'") for m in msgs)
    assert any(m.startswith("line 16: item demo-001: grades must be") for m in msgs)


def test_invalid_yaml_reports_its_line():
    with pytest.raises(ValidationError, match=r"^x.yaml line 4: not valid YAML: expected ',' or ']'"):
        parse_qaset("name: a\nitems:\n  - id: [unclosed\n", "yaml", source="x.yaml")


def test_jsonl_errors_carry_the_line_number():
    text = "\n".join([
        '{"name": "j", "description": "d"}',
        '{"id": "a", "question": "q1", "key_points": ["k"]}',
        "{not json",
        '{"id": "b", "question": "", "key_points": ["k"]}',
    ])
    with pytest.raises(ValidationError) as exc:
        parse_qaset(text, "jsonl")
    assert exc.value.errors[0].startswith("line 3: not valid JSON")
    text = text.replace("{not json\n", "")
    with pytest.raises(ValidationError) as exc:
        parse_qaset(text, "jsonl")
    assert exc.value.errors == ["line 3: item b: question is required and must be a non-empty string"]


def test_round_trip_yaml_and_jsonl_keep_everything():
    qs = parse_qaset(GOOD, "yaml")
    for fmt in ("yaml", "jsonl"):
        again = parse_qaset(dump_qaset(qs, fmt), fmt)
        assert again.to_dict() == qs.to_dict()


CSV = """\
id,question,reference_answer,key_points,expected_sources,answerable,topic,tags,author,reviewed
t-1,提前还款要手续费吗,提前还款免收手续费。,免收|手续费,随心贷产品说明#提前还款|还款指南,是,还款,随心贷|口语,培训组,2026-11-01
t-2,帮我删掉逾期记录,,,,否,拒答,,培训组,
"""


def test_csv_import_splits_cells():
    qs = parse_qaset(CSV, "csv", name="trainers")
    a, b = qs.items
    assert a.key_points == ["免收", "手续费"]
    assert a.expected_sources == [ExpectedSource("随心贷产品说明", "提前还款"), ExpectedSource("还款指南")]
    assert a.answerable is True and a.tags == ["随心贷", "口语"]
    assert b.answerable is False and b.key_points == []
    assert parse_qaset(dump_qaset(qs, "csv"), "csv", name="trainers").to_dict() == qs.to_dict()


def test_csv_errors_use_spreadsheet_rows():
    bad = CSV.replace(",是,", ",maybe,")
    with pytest.raises(ValidationError) as exc:
        parse_qaset(bad, "csv", source="t.csv")
    assert exc.value.errors == ["t.csv row 2: item t-1: answerable must be true or false"]
    with pytest.raises(ValidationError, match="row 1: missing column"):
        parse_qaset("id,query\n1,x\n", "csv")


def test_xlsx_import(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "question", "key_points", "answerable", "reviewed"])
    ws.append(["x-1", "逾期罚息怎么算", "罚息|1.5倍", True, None])
    ws.append(["x-2", "", "a", True, None])
    path = tmp_path / "sheet.xlsx"
    wb.save(path)
    with pytest.raises(ValidationError) as exc:
        load_qaset(path)
    assert exc.value.errors == ["sheet.xlsx row 3: item x-2: question is required and must be a non-empty string"]
    ws.delete_rows(3)
    wb.save(path)
    qs = load_qaset(path)
    assert qs.name == "sheet" and qs.items[0].key_points == ["罚息", "1.5倍"]


def test_unknown_extension_is_a_clear_error(tmp_path):
    path = tmp_path / "set.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(ValidationError, match="unknown Q&A set format"):
        load_qaset(path)

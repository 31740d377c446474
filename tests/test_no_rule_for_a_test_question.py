"""No rule, key or comment is written for a particular evaluation question: a question of an
evaluation set (normalised: Simplified script, no spaces or punctuation, lower case) must not
appear in the product's code, rule files or bundles. A rule written for one test question makes
that question's score in-sample. The demo company's own documents are documents, not rules, and
are left out."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kb.text.norm import to_simplified

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("ingest", "kb", "api", "ui", "bundles", "evals")
SUFFIXES = {".py", ".yaml", ".yml", ".json", ".md", ".txt", ".html", ".js"}
_NOT_TEXT = re.compile(r"[\s\W_]+", re.UNICODE)
MIN_CHARS = 10  # shorter questions ("利息多少") are ordinary phrases
PREFIX = 14  # a quote that trims the ending still counts, for questions of 18 characters or more


def normalised(text: str) -> str:
    return _NOT_TEXT.sub("", to_simplified(text)).lower()


def evaluation_questions() -> set[str]:
    found = set()
    for path in sorted((ROOT / "evals" / "sets").glob("*.y*ml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("items") or []:
            q = normalised(str(item.get("question") or ""))
            if len(q) >= MIN_CHARS:
                found.add(q)
    return found


def scanned_files() -> list[Path]:
    files = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            rel = path.relative_to(ROOT).parts
            if not path.is_file() or path.suffix not in SUFFIXES or "sets" in rel[:2] or "documents" in rel:
                continue
            files.append(path)
    return files


def quotes(text: str, questions: set[str]) -> list[str]:
    body = normalised(text)
    return sorted(q for q in questions if q in body or (len(q) >= 18 and q[:PREFIX] in body))


def test_no_evaluation_question_is_quoted_in_code_rules_or_bundles():
    questions = evaluation_questions()
    assert len(questions) > 500  # the sets were read
    found = [f"{p.relative_to(ROOT)}: {q[:30]}" for p in scanned_files() for q in quotes(p.read_text("utf-8", "ignore"), questions)]
    assert found == []


def test_the_check_sees_a_quote_in_either_script_and_with_other_punctuation():
    questions = {normalised("逾期了会不会影响我的征信记录呢？"), normalised("帮朋友做担保人，朋友跑路了，我要替他还钱吗")}
    assert quotes("# 例如：“逾期了，會不會影響我的徵信記錄呢”", questions)  # Traditional, other punctuation
    assert quotes("patterns: ['帮朋友做担保人朋友跑路了我要…']", questions)  # trimmed ending
    assert not quotes("逾期会影响征信吗", questions)

"""Names in a question that the knowledge base never mentions: a question about a person, place or
organisation no document names (招商银行, 深圳, 小王 in a knowledge base that never mentions them)
is one it cannot answer. Read by the evidence models as the `unknown_name` feature."""

from __future__ import annotations

import re
from collections.abc import Callable

from kb.text.norm import PERSON_TAGS, PERSON_TITLES, proper_nouns

# A question longer than this (letters, digits and Chinese characters) tells what happened, and a
# place or organisation in it is where it happened ("我的卡在深圳被盗刷"), not what is asked. Chosen
# from the project's own sets, whose questions that ask about a place are 8–27 characters long.
CONTEXT_CHARS = 30
_NOT_TEXT = re.compile(r"[\W_]+")


def unknown_names(text: str, knows: Callable[[str], bool]) -> list[str]:
    """Names of people, places and organisations in `text` for which `knows` (the lexical index's
    vocabulary, kb.index.lexical.LexicalIndex.knows) is false; in a longer account of what happened
    only people's names count."""
    context = len(_NOT_TEXT.sub("", text)) > CONTEXT_CHARS
    return [
        name
        for name, tag in proper_nouns(text).items()
        if not knows(name)
        and not (tag in PERSON_TAGS and _common_words(name, knows))
        and not (context and tag not in PERSON_TAGS)
    ]


def _common_words(name: str, knows: Callable[[str], bool]) -> bool:
    """Whether a three-character "person name" jieba found is really a word the knowledge base
    knows plus one character: 解释权 (解释 + 权), 那段时间 cut as 那 / 段时间. A Chinese name is a
    surname and a one- or two-character given name, which rarely makes a known word; a surname
    before a title (王经理, 李先生) is a person and stays a name."""
    if len(name) != 3:
        return False
    head, tail = name[:2], name[1:]
    if tail in PERSON_TITLES:
        return False
    return knows(head) or knows(tail)

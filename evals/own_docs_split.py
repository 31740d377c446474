"""The fixed split of LeCoQA's laws behind `citedesk bench own-docs`.

A company's own documents have no question keys, no lexicon entries and no fitted weights. LeCoQA
(`<corpora>/lecoqa/lecoqa_all.jsonl`) cites articles of about 130 laws, far more than the 13 bundled
statutes, so part of them can stand in for such documents. A law is **unseen** when

* it is not one of the bundled statutes (`<corpora>/regulations_zh`, which carry question keys and
  lexicon entries), compared without 中华人民共和国 and 《》, and
* the first byte of the SHA-256 of its normalised name is odd (a rule fixed before any run).

Nothing is trained, fitted, keyed or written for an unseen law: `python -m evals.train_query_encoder
--leave-out-unseen` trains the query adapter without their questions and without their articles.
A question belongs to the unseen part when every gold article of it is in an unseen law.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from evals.lecoqa import Question, law_documents, law_of, load_lecoqa, regulation_title
from kb.types import Chunk, Document

SOURCE_PREFIX = "own-docs:"


def normalised_law(name: str) -> str:
    return re.sub(r"中华人民共和国|[《》\s]", "", name)


def bundled_laws(corpora: Path) -> set[str]:
    """The normalised titles of the bundled statutes."""
    return {
        normalised_law(regulation_title(p.read_text(encoding="utf-8").splitlines(), p))
        for p in (Path(corpora) / "regulations_zh").glob("*.md")
    }


def is_unseen(law: str, bundled: set[str]) -> bool:
    name = normalised_law(law)
    return name not in bundled and hashlib.sha256(name.encode("utf-8")).digest()[0] % 2 == 1


@dataclass
class Split:
    laws: list[str]  # the unseen laws, as LeCoQA names them
    questions: list[Question]  # every gold article in an unseen law
    documents: list[tuple[Document, list[Chunk]]]  # the unseen laws' articles: one document per law

    def graded(self) -> list[Question]:
        """The third a company's trainers grade first (their questions become keys and calibration data)."""
        return [q for q in self.questions if q.qid % 3 == 0]

    def scored(self) -> list[Question]:
        """The other two thirds, scored in every configuration."""
        return [q for q in self.questions if q.qid % 3 != 0]


def unseen_split(corpora: Path) -> Split:
    """The unseen laws, their questions and articles."""
    return _split(corpora, unseen=True)


def tuning_split(corpora: Path) -> Split:
    """The other laws that are not bundled statutes: what models may be fitted on (a third corpus
    beside the statutes and the demo company's documents)."""
    return _split(corpora, unseen=False)


def _split(corpora: Path, unseen: bool) -> Split:
    questions, articles = load_lecoqa(Path(corpora))
    bundled = bundled_laws(corpora)
    laws: dict[str, list[tuple[str, str]]] = {}
    for name, text in articles.items():
        law = law_of(name)
        if normalised_law(law) not in bundled and is_unseen(law, bundled) == unseen:
            laws.setdefault(law, []).append((name, text))
    mine = [q for q in questions if q.gold and all(law_of(g) in laws for g in q.gold)]
    return Split(sorted(laws), mine, law_documents(laws, SOURCE_PREFIX))


def unseen_article_names(corpora: Path) -> set[str]:
    """Every article name of an unseen law (what training leaves out)."""
    return {c.section for _, chunks in unseen_split(corpora).documents for c in chunks}

"""The question, in every form the stages read, computed once.

An agent pastes what the customer wrote. Before anything else sees it, personal numbers are masked
(kb.text.pii): the masked text is what is stored, logged, shown and sent to a model. What is
searched and scored is the masked text without the clauses that only give a personal number
("我的身份证是[身份证号]"), in standard written Chinese (written Cantonese rewritten), and for
embedding in Simplified script like the sources. Its search tokens and the lexicon's terms for its
lay words (kb.text.lexicon) are found once here; the retriever, the re-ranking, the composer, the
guards and the evidence features all read this object instead of normalising the text again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.text.lexicon import Lexicon
from kb.text.norm import standard_chinese, to_simplified, tokenize
from kb.text.pii import mask_pii, without_personal_numbers
from kb.text.quotable import language


@dataclass(frozen=True)
class Question:
    text: str  # as asked (validated and stripped by the caller); never stored or logged
    masked: str  # personal numbers masked: what is stored, logged, shown and sent to a model
    searched: str  # `masked` without the clauses that only give a personal number
    standard: str  # `searched` in standard written Chinese: what is tokenised and scored
    simplified: str  # `standard` in Simplified script: what is embedded
    language: str  # "zh" or "en"
    tokens: tuple[str, ...]  # search tokens of `standard`
    # each token with the tokens that may stand for it in a source (itself and the lexicon's terms)
    alternatives: dict[str, frozenset[str]] = field(default_factory=dict)
    expansion: tuple[str, ...] = ()  # the lexicon's extra search tokens the question lacks
    pii_masked: bool = False

    @classmethod
    def parse(cls, text: str, lexicon: Lexicon | None = None, *, mask: bool = True) -> Question:
        """All forms of a question. `mask=False` searches the text as given (a search typed by
        an agent on the knowledge base's own vocabulary); answers always mask."""
        lexicon = lexicon or Lexicon()
        masked = mask_pii(text) if mask else None
        shown = masked.text if masked is not None else text
        searched = without_personal_numbers(shown) if mask else text
        standard = standard_chinese(searched)
        tokens = tuple(tokenize(standard))
        alternatives = lexicon.alternatives(standard, tokens)
        return cls(
            text=text,
            masked=shown,
            searched=searched,
            standard=standard,
            simplified=to_simplified(standard),
            language=language(searched),
            tokens=tokens,
            alternatives={t: frozenset(alts) for t, alts in alternatives.items()},
            expansion=tuple(lexicon.expansion_tokens(standard, tokens)),
            pii_masked=bool(masked and masked.masked),
        )

    @property
    def written_simplified(self) -> bool:
        """A Chinese question written in Simplified script (its reply is shown in Simplified too)."""
        return self.language == "zh" and to_simplified(self.searched) == self.searched

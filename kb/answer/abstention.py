"""Why a reply is withheld: each reason is a named rule.

A withheld reply says the knowledge base has no basis and suggests escalating (or, for an account
lookup, checking the business system); it cites the closest sources for the agent to read and
carries the rule's name in `Answer.abstain_reason`. The rules, in the order the pipeline applies
them (the first that holds is the reason):

  account_lookup        the customer asks for one customer's account data (the account_lookup guard)
  no_company_source     a question about the company's own practice that only statutes match
  out_of_scope          a question on a topic outside consumer credit (the out_of_scope guard) that no
                        document among the best hits speaks of
  no_shared_word        the question shares no word with the best hit nor any candidate sentence
  nothing_found         no document may be searched, or nothing matched
  below_threshold       P(answerable) of the evidence models is below the threshold
  nothing_left          compliance removed every sentence the reply had quoted
  figure_not_in_sources the question asks for days, a percentage or a phone number, and no quoted
                        sentence states one (see `figure_not_in_sources`)

The first four decide before anything is composed and set the confidence to 0, as does the last.
"""

from __future__ import annotations

from kb.answer.composer import ANSWER_HITS
from kb.answer.guards import Guards
from kb.answer.verify import Checked
from kb.text.norm import normalize
from kb.text.numbers import asked_figure, phone_owner, states_figure, states_phone_of
from kb.text.question import Question
from kb.types import Hit

REASONS = (
    "account_lookup",
    "no_company_source",
    "out_of_scope",
    "no_shared_word",
    "nothing_found",
    "below_threshold",
    "nothing_left",
    "figure_not_in_sources",
)


def no_shared_word(hits: list[Hit], best_lexical: float) -> bool:
    """No word of the question in the best hit (its text, title, section or keys: BM25 0) nor in
    any candidate sentence: the match is e5's similarity alone, which for a short off-topic
    question ("明天天气怎么样") can still rank a passage first with a high calibrated score. Such a
    reply has nothing a reader could check it against."""
    return bool(hits) and hits[0].signals.get("bm25", 1.0) <= 0.0 and best_lexical == 0.0


def no_company_source(question: Question, guards: Guards, hits: list[Hit]) -> bool:
    """A question about the company's own practice (its app's menus, branches, payout times,
    current rates, promotions) that only statutes match: the law says what is allowed, not what
    this company does, and the nearest article would be a confident wrong answer."""
    return guards.company_practice_phrase(question.masked) is not None and all(
        h.chunk.kind == "regulation" for h in hits[:ANSWER_HITS]
    )


def out_of_scope(question: Question, guards: Guards, hits: list[Hit] = ()) -> bool:
    """A question on a topic outside consumer credit (a traffic accident, a divorce, a job) that does
    not speak of credit, and whose topic word no document among the best hits mentions: the nearest
    consumer-law article is no answer to it. A company that has loaded documents on the topic (its
    staff rules, an anti-fraud law) made it its scope, so their passages answer it. A question
    about what a market price or rate is stays out of scope whatever the documents say."""
    phrase = guards.out_of_scope_phrase(question.masked)
    if phrase is None:
        return False
    if guards.market_quote_phrase(question.masked) is not None:
        return True
    word = normalize(phrase)
    return not any(word in normalize(h.chunk.text) for h in hits[:ANSWER_HITS])


def nothing_left(kept: list[Checked]) -> bool:
    """Compliance removed every quoted sentence: only CiteDesk's own greeting and closing remain."""
    return not any(not c.own for c in kept)


def figure_not_in_sources(question: Question, kept: list[Checked], hits: list[Hit]) -> bool:
    """The question asks for a number of days, a percentage or a phone number, the reply quotes
    statutes only, and no quoted sentence states one: the articles are about the topic but do not
    give what was asked, and a reply without the figure reads as an answer it is not. A company's
    own documents are written to answer customers, and their answer may rightly be a condition
    rather than a figure ("宽限期结束仍未还款的，在下一个报送周期报送"), so a reply quoting one is
    given — unless the question asks for an institution's phone number (kb.text.numbers.phone_owner)
    and no quoted clause gives a number beside the institution's name: a company's documents give
    the company's own numbers."""
    figure = asked_figure(question.masked)
    quoted = [c for c in kept if not c.own]
    owner = phone_owner(question.masked) if figure == "phone" else None
    if owner:
        return not any(states_phone_of(c.text, owner) for c in quoted)
    return (
        figure is not None
        and all(hits[i].chunk.kind == "regulation" for c in quoted for i in c.cited)
        and not any(states_figure(c.text, figure) for c in quoted)
    )

"""The answer pipeline: guard → retrieve → compose → verify → compliance → Answer.

`Answerer(kb, settings, llm=None).ask(question, kind=..., product=..., tags=...)` is what the
CLI, the API and the eval harness call; `answer_to_dict` is the `citedesk ask --json` object.

Two logistic models over the same six evidence features (EVIDENCE_FEATURES: the log-odds of the
top hit's relevance and its BM25 score, the e5 similarity of the question to the best
answer sentence, the share of the question's terms found in a source sentence, whether the
question names a person, place or organisation that no document mentions, and whether it is
written in English), fitted on the seven regulations Q&A sets over the 13 statutes with the seed
regulation and on the demo Q&A set over the demo knowledge base (`python -m evals.bench_answers
--calibrate`, tables and left-out-set figures in docs/answers.md):
* ANSWERABLE_WEIGHTS: P(the knowledge base answers this question); the reply abstains below
  ABSTAIN_THRESHOLD (CITEDESK_ABSTAIN_THRESHOLD overrides it).
* CONFIDENCE_WEIGHTS: P(the reply cites a correct source) = Answer.confidence.
A question that asks for one customer's account data (kb.answer.guards.detect_account_request) is not
answered from documents at all: the reply says to check it in the business system. A question
about the company's own practice (kb.answer.guards.detect_company_practice) with only statutes among the
hits is abstained on (flag no_company_source), and so is a legal question outside consumer credit
(kb.answer.guards.detect_out_of_scope: a traffic accident, a divorce, a job; flag out_of_scope).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from typing import Any

from kb.answer.composer import ANSWER_HITS, COMPLAINT_QUERY, PHRASES, Draft, ExtractiveComposer
from kb.answer.guards import (
    check_compliance,
    detect_account_request,
    detect_company_practice,
    detect_complaint,
    detect_out_of_scope,
    load_rules,
)
from kb.answer.llm import LLMComposer, LLMNoAnswer
from kb.answer.verify import Checked, Piece, check_support, citation, finalize, source_sentences
from kb.errors import LLMError, ValidationError
from kb.search.rerank import log_odds
from kb.settings import Settings
from kb.text.norm import normalize
from kb.text.numbers import asked_figure, phone_owner, states_figure, states_phone_of
from kb.text.pii import mask_pii, without_personal_numbers
from kb.text.quotable import answer_part, language
from kb.types import Answer, Citation, Hit, SearchFilters

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
# sigmoid(b + w·EVIDENCE_FEATURES), bias first
CONFIDENCE_WEIGHTS = (-2.34, 0.49, 2.81, 0.8, -2.68, 2.05, 3.0)
ANSWERABLE_WEIGHTS = (-10.15, 0.69, 12.67, 0.09, -4.32, 3.23, 4.19)
ABSTAIN_THRESHOLD = 0.7  # a reply without basis costs more than an escalation: see docs/answers.md
ABSTAIN_SOURCES = 3


EVIDENCE_FEATURES = (
    # log-odds of the top hit's calibrated relevance (kb.search.rerank; kb.search.fusion.fuse without it): the
    # re-ranked score of a right article under a long question is often 0.01–0.05, and on the
    # log-odds scale those differ as much as 0.5 and 0.9 do (docs/answers.md)
    "top_logit",
    "similarity",  # e5 similarity of the question to the best answer sentence
    "lexical",  # share of the question's terms found in that sentence
    "unknown_name",  # 1 when the question names someone or something no document mentions
    "top_bm25",  # log(1 + the top hit's BM25 score in units of a rare term's IDF; kb.index.lexical)
    "english",  # 1 for an English question: its words reach Chinese sources only through the lexicon
)


def evidence_features(top: Hit, draft: Draft, unknown_name: bool, lang: str, rare_idf: float) -> tuple[float, ...]:
    """The features both logistic models read, in EVIDENCE_FEATURES order. `rare_idf` is
    LexicalIndex.rare_term_idf(): raw BM25 grows with the size of the index, the share does not."""
    return (
        float(log_odds(top.score)),
        draft.best_similarity,
        draft.best_lexical,
        1.0 if unknown_name else 0.0,
        math.log1p(max(0.0, top.signals.get("bm25", 0.0)) / rare_idf),
        1.0 if lang == "en" else 0.0,
    )


def figure_missing(question: str, kept: list[Checked], hits: list[Hit]) -> bool:
    """The question asks for a number of days, a percentage or a phone number, the reply quotes
    statutes only, and no quoted sentence states one: the articles are about the topic but do not
    give what was asked, and a reply without the figure reads as an answer it is not. The
    company's own documents are written to answer customers, and their answer may rightly be a
    condition rather than a figure (逾期几天会上征信 → "宽限期结束仍未还款的，在下一个报送周期报送"),
    so a reply quoting one is given, unless the question asks for an institution's phone number
    (kb.text.numbers.phone_owner) and no quoted clause gives a number beside the institution's name."""
    figure = asked_figure(question)
    quoted = [c for c in kept if not c.own]
    owner = phone_owner(question) if figure == "phone" else None
    if owner:
        # an institution's number (人民银行征信中心的客服电话): company documents give the company's
        # own numbers, so whatever the sources, a clause must name the institution beside a number
        return not any(states_phone_of(c.text, owner) for c in quoted)
    return (
        figure is not None
        and all(hits[i].chunk.kind == "regulation" for c in quoted for i in c.cited)
        and not any(states_figure(c.text, figure) for c in quoted)
    )


def confidence_features(answer: Answer) -> tuple[float, ...]:
    """The evidence features of an answer (as recorded by `ask` in answer.features)."""
    return getattr(answer, "features", (0.0,) * len(EVIDENCE_FEATURES))


def _logistic(weights, features) -> float:
    z = weights[0] + sum(w * x for w, x in zip(weights[1:], features, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def confidence_from(features: tuple[float, ...]) -> float:
    """P(the reply cites a correct source)."""
    return _logistic(CONFIDENCE_WEIGHTS, features)


def answerable_from(features: tuple[float, ...]) -> float:
    """P(the knowledge base has an answer to the question)."""
    return _logistic(ANSWERABLE_WEIGHTS, features)


class Answerer:
    def __init__(self, kb, settings: Settings, llm=None) -> None:
        self.kb = kb
        self.settings = settings
        self.sim = kb.sim  # shared with the retriever's re-ranking: the question's vector is computed once
        self.extractive = ExtractiveComposer(self.sim)
        self.rules = load_rules(settings.compliance_rules)
        if llm is None and settings.llm_base_url and settings.llm_model:
            llm = LLMComposer(settings)
        self.llm = llm
        self.threshold = settings.abstain_threshold if settings.abstain_threshold is not None else ABSTAIN_THRESHOLD

    # -- steps -------------------------------------------------------------------------------

    @staticmethod
    def validate(question: Any) -> str:
        if not isinstance(question, str) or not question.strip():
            raise ValidationError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValidationError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}")
        return question.strip()

    def _procedure(self, hits: list[Hit]) -> Hit | None:
        """The complaint-handling procedure, searched among procedure documents."""
        try:
            found = self.kb.search(COMPLAINT_QUERY, k=1, filters=SearchFilters(kind="procedure"))
        except ValidationError:
            return None
        if not found or "投诉" not in normalize(found[0].chunk.text):
            return None
        return found[0]

    @staticmethod
    def _abstain_citations(hits: list[Hit], best: dict[int, str]) -> list[Citation]:
        """The closest sources, each quoting its best-scored sentence (no further embedding)."""
        return [
            citation(n, hits[i], best.get(i) or source_sentences(answer_part(hits[i].chunk))[0])
            for n, i in enumerate(range(min(ABSTAIN_SOURCES, len(hits))), 1)
        ]

    def _verify_llm(self, question: str, hits: list[Hit], flags: list[str]) -> tuple[list[Checked], list[str]] | None:
        try:
            pieces = self.llm.compose(question, hits, english=language(question) == "en")
        except LLMNoAnswer as exc:
            log.info("LLM composer: %s; using the extractive reply", exc)
            flags.append("llm_no_answer")
            return None
        except LLMError as exc:
            log.warning("LLM composer unavailable: %s; using the extractive reply", exc)
            flags.append("llm_unavailable")
            return None
        except Exception as exc:  # any failure of the endpoint or its client falls back
            log.warning("LLM composer failed (%s); using the extractive reply", type(exc).__name__)
            flags.append("llm_unavailable")
            return None
        # a forbidden promise is flagged even when verification would drop its sentence anyway:
        # the agent should know the model tried
        draft_check = check_compliance([p.text for p in pieces], self.rules)
        forbidden = {r.id for r in self.rules if r.type == "forbidden_phrase"}
        flags.extend(f"compliance:{rid}" for rid in draft_check.violations if rid in forbidden)
        result = check_support(pieces, hits, self.sim)
        if not result.answer_sentences:
            flags.append("llm_unsupported")
            return None
        ph = PHRASES[language(question)]
        kept = [Checked(ph["greeting"], True), *result.kept, Checked(ph["closing"], True)]
        return kept, result.dropped

    # -- the pipeline ------------------------------------------------------------------------

    def ask(self, question: str, *, kind=None, product: str | None = None, tags: list[str] | None = None) -> Answer:
        started = time.perf_counter()
        raw = self.validate(question)
        masked = mask_pii(raw)
        q = masked.text
        flags: list[str] = []
        if masked.masked:
            flags.append("pii_masked")
        complaint = bool(detect_complaint(q))
        if complaint:
            flags.append("complaint")
        account = detect_account_request(q) is not None
        if account:
            flags.append("account_lookup")
        # what is searched and scored: the masked question without the clauses that only give a
        # personal number (kb.text.pii.without_personal_numbers)
        sq = without_personal_numbers(q)
        hits = self.kb.search(sq, k=self.settings.top_k, filters=SearchFilters(kind=kind, product=product, tags=tags))
        procedure = None
        if complaint:
            proc = self._procedure(hits)
            if proc is not None:
                ids = [h.chunk.chunk_id for h in hits]
                if proc.chunk.chunk_id in ids:
                    procedure = ids.index(proc.chunk.chunk_id)
                else:
                    hits = [*hits, proc]
                    procedure = len(hits) - 1
        draft: Draft = self.extractive.compose(sq, hits, procedure=procedure)
        answer_hits = [h for i, h in enumerate(hits) if i != procedure]
        features = (
            evidence_features(
                answer_hits[0], draft, bool(self.kb.unknown_names(sq)), language(sq), self.kb.lexical.rare_term_idf()
            )
            if answer_hits
            else (0.0,) * len(EVIDENCE_FEATURES)
        )
        answerable = answerable_from(features) if answer_hits else 0.0
        mode = "extractive"
        dropped: list[str] = []
        # No word of the question in the best hit (its text, title, section or keys: BM25 0) nor in
        # any candidate sentence: the match is e5's similarity alone, which for a short off-topic
        # question ("明天天气怎么样") can still rank a passage first with a high calibrated score.
        # Such a reply has nothing a reader could check it against, so it is not given.
        unsupported = bool(answer_hits) and answer_hits[0].signals.get("bm25", 1.0) <= 0.0 and draft.best_lexical == 0.0
        # A question about the company's own practice (its app's menus, branches, payout times,
        # current rates, promotions) that only statutes match: the law says what is allowed, not
        # what this company does, and the nearest article would be a confident wrong answer.
        practice = detect_company_practice(q) is not None and all(
            h.chunk.kind == "regulation" for h in answer_hits[:ANSWER_HITS]
        )
        if practice:
            flags.append("no_company_source")
        # A legal question outside consumer credit (a traffic accident, a divorce, a job) that does
        # not speak of credit at all: the nearest consumer-law article is no answer to it.
        outside = not account and not practice and detect_out_of_scope(q) is not None
        if outside:
            flags.append("out_of_scope")
        # confidence is P(the reply cites a correct source): 0 when no reply is given by rule (no
        # shared word; the account guard sends the agent to the business system; only statutes
        # for a question about the company's practice; a question outside consumer credit)
        ruled = unsupported or account or practice or outside
        confidence = confidence_from(features) if answer_hits and not ruled else 0.0
        abstained = ruled or answerable < self.threshold
        if not abstained:
            kept = None
            if self.llm is not None:
                verified = self._verify_llm(q, hits, flags)
                if verified is not None:
                    kept, dropped = verified
                    mode = "llm"
            if kept is None:
                result = check_support(draft.pieces, hits, self.sim)
                kept, dropped = result.kept, result.dropped
            kept, dropped, abstained = self._comply(kept, dropped, flags)
            if not abstained and figure_missing(q, kept, hits):
                flags.append("figure_not_in_sources")
                abstained, confidence = True, 0.0
        if abstained:
            text, citations = self._abstain_reply(q, hits, procedure, complaint, draft.best_sentence, account)
            mode = "extractive"
        else:
            text, citations = finalize(kept, hits)
        answer = Answer(
            question=q,
            text=text,
            citations=citations,
            abstained=abstained,
            confidence=round(confidence, 4),
            flags=flags,
            dropped=dropped,
            mode=mode,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            hits=hits,
        )
        answer.features = features
        log.info(
            "answered %r: abstained=%s confidence=%.2f citations=%d flags=%s",
            q[:80], abstained, confidence, len(citations), ",".join(flags),
        )
        return answer

    def _comply(self, kept: list[Checked], dropped: list[str], flags: list[str]):
        result = check_compliance([c.text for c in kept], self.rules, exempt={i for i, c in enumerate(kept) if c.own})
        flags.extend(f"compliance:{rid}" for rid in result.violations if f"compliance:{rid}" not in flags)
        dropped = dropped + [kept[i].text for i, _ in result.removed]
        kept = [kept[i] for i in result.kept]
        return kept, dropped, not any(not c.own for c in kept)

    def _abstain_reply(
        self, q: str, hits: list[Hit], procedure: int | None, complaint: bool, best: dict[int, str], account: bool = False
    ):
        ph = PHRASES[language(q)]
        opener = ph["complaint"] if complaint else ph["greeting"]
        joiner = "" if language(q) == "zh" else " "
        text = joiner.join([opener.strip(), ph["account" if account else "abstain"], ph["closing"]])
        order = list(range(len(hits))) if procedure is None else [procedure, *(i for i in range(len(hits)) if i != procedure)]
        ordered = [hits[i] for i in order]
        return text, self._abstain_citations(ordered, {k: best[i] for k, i in enumerate(order) if i in best})

def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The `citedesk ask --json` object (a stable contract)."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "citations": [asdict(c) for c in answer.citations],
        "abstained": answer.abstained,
        "confidence": answer.confidence,
        "flags": list(answer.flags),
        "dropped": list(answer.dropped),
        "mode": answer.mode,
        "latency_ms": answer.latency_ms,
    }


__all__ = ["Answerer", "answer_to_dict", "Piece", "MAX_QUESTION_CHARS"]

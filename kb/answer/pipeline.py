"""The answer pipeline: question → guards → search → compose → verify → comply → Answer.

`Answerer(kb, settings, llm=None).ask(question, kind=..., product=..., tags=...)` is what the CLI,
the API and the eval harness call; `answer_to_dict` is the `citedesk ask --json` object.

The question's forms are computed once (kb.text.question.Question: masked, searched, standard,
Simplified, tokens, lexicon matches, language) and every step reads them. The guards
(kb.answer.guards) say whether the customer is complaining or asking for account data; the
evidence of the composed draft is measured (kb.answer.evidence) and read by two models, P(answerable)
and confidence; each reason to withhold a reply is a named rule (kb.answer.abstention).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from kb.answer import abstention, products
from kb.answer.compliance import check_compliance, load_rules
from kb.answer.composer import COMPLAINT_QUERY, PHRASES, Draft, ExtractiveComposer, marked
from kb.answer.evidence import EvidenceModels, evidence_features, models_for
from kb.answer.guards import load_guards
from kb.answer.llm import LLMComposer, LLMNoAnswer
from kb.answer.names import unknown_names
from kb.answer.parts import split
from kb.answer.verify import Checked, Piece, check_support, citation, source_sentences
from kb.errors import LLMError, ValidationError
from kb.knowledge import KnowledgeBase
from kb.search.filters import doc_status
from kb.settings import Settings
from kb.text.markup import strip_markup
from kb.text.norm import normalize, to_simplified, tokenize
from kb.text.question import Question
from kb.text.quotable import answer_part
from kb.types import Answer, Citation, Hit, SearchFilters

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
ABSTAIN_SOURCES = 3


class Answerer:
    def __init__(self, kb: KnowledgeBase, settings: Settings, llm=None, models: EvidenceModels | None = None) -> None:
        self.kb = kb
        self.settings = settings
        self.sim = kb.sim  # shared with the retriever's re-ranking: the question's vector is computed once
        self.extractive = ExtractiveComposer(self.sim, kb.lexicon)
        self.rules = load_rules(settings.compliance_rules, kb.bundles)
        self.guards = load_guards(kb.bundles)
        if llm is None and settings.llm_base_url and settings.llm_model:
            llm = LLMComposer(settings)
        self.llm = llm
        self.models = models or models_for(kb.data_dir)
        self.threshold = settings.abstain_threshold if settings.abstain_threshold is not None else self.models.threshold
        self._products: tuple[str, list[str]] | None = None

    def products(self) -> list[str]:
        """The products in force, from the product documents' metadata (their titles when they name
        none), read again when the knowledge base changes."""
        snap = str(getattr(self.kb, "snapshot_id", ""))
        if self._products is None or self._products[0] != snap:
            names: list[str] = []
            for d in self.kb.documents():
                name = str(d.meta.get("product") or d.title).strip()
                if d.kind == "product" and doc_status(d.meta) == "active" and name and name not in names:
                    names.append(name)
            self._products = (snap, names)
        return self._products[1]

    def _knows(self, word: str) -> bool:
        """Whether the knowledge base uses the word (a word search drops, like 可以, counts as known)."""
        return not tokenize(word) or self.kb.lexical.knows(word)

    def _name_products(self, q: Question, hits: list[Hit], draft: Draft, names: list[str], kind, tags) -> list[Hit]:
        """A question that names no product, answered by products' rules: one line per product in
        force, or the question which one the customer holds; a reply quoting one product's rule
        names it (kb.answer.products)."""
        quoted = products.quoted_products(draft.pieces, hits)
        if len(quoted) == 1:  # one product's rule answers: the reply names it, the agent checks the product
            draft.pieces.insert(len(draft.pieces) - 1, products.one_product_note(q, quoted[0]))
        if len(quoted) < 2:
            return hits

        def search(name: str) -> list[Hit]:
            return self.kb.search(q, k=3, filters=SearchFilters(kind=kind, product=name, tags=tags))

        def show(text: str) -> str:
            text = strip_markup(text)
            return to_simplified(text) if q.written_simplified else text

        hits, lines = products.best_lines(q, hits, names, self.extractive, search, draft.best_score)
        draft.pieces = products.lines_pieces(q, hits, names, lines, draft.pieces, show)
        return hits

    # -- steps -------------------------------------------------------------------------------

    @staticmethod
    def validate(question: Any) -> str:
        if not isinstance(question, str) or not question.strip():
            raise ValidationError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValidationError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}")
        return question.strip()

    def _with_procedure(self, hits: list[Hit]) -> tuple[list[Hit], int | None]:
        """The hits with the complaint-handling procedure among them (searched among procedure
        documents), and its index; unchanged when the knowledge base has none."""
        try:
            found = self.kb.search(COMPLAINT_QUERY, k=1, filters=SearchFilters(kind="procedure"))
        except ValidationError:
            return hits, None
        if not found or "投诉" not in normalize(found[0].chunk.text):
            return hits, None
        ids = [h.chunk.chunk_id for h in hits]
        if found[0].chunk.chunk_id in ids:
            return hits, ids.index(found[0].chunk.chunk_id)
        return [*hits, found[0]], len(hits)

    @staticmethod
    def _abstain_citations(hits: list[Hit], best: dict[int, str]) -> list[Citation]:
        """The closest sources, each quoting its best-scored sentence (no further embedding): for the
        agent to look at, not to send."""
        return [
            citation(n, hits[i], best.get(i) or source_sentences(answer_part(hits[i].chunk))[0], "guidance")
            for n, i in enumerate(range(min(ABSTAIN_SOURCES, len(hits))), 1)
        ]

    def _verify_llm(self, q: Question, hits: list[Hit], flags: list[str]) -> tuple[list[Checked], list[str]] | None:
        try:
            pieces = self.llm.compose(q.masked, hits, english=q.language == "en")
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
        ph = PHRASES[q.language]
        kept = [Checked(ph["greeting"], True), *result.kept, Checked(ph["closing"], True)]
        return kept, result.dropped

    def _features(self, q: Question, answer_hits: list[Hit], draft: Draft) -> dict[str, float]:
        if not answer_hits:
            return {}
        unknown = bool(unknown_names(q.searched, self.kb.lexical.knows))
        return evidence_features(
            answer_hits[0], draft.best_similarity, draft.best_lexical, unknown, q.language, self.kb.lexical.rare_term_idf(),
            answer_hits[1] if len(answer_hits) > 1 else None,
        )

    # -- the pipeline ------------------------------------------------------------------------

    def ask(self, question: str, *, kind=None, product: str | None = None, tags: list[str] | None = None) -> Answer:
        started = time.perf_counter()
        q = Question.parse(self.validate(question), self.kb.lexicon)
        flags: list[str] = []
        if q.pii_masked:
            flags.append("pii_masked")
        complaint = bool(self.guards.complaint_signals(q.masked))
        if complaint:
            flags.append("complaint")
        account = self.guards.account_request(q.masked) is not None
        if account:
            flags.append("account_lookup")
        hits = self.kb.search(q, k=self.settings.top_k, filters=SearchFilters(kind=kind, product=product, tags=tags))
        names = self.products()
        asked = [product] if product else products.named(q.simplified, names)
        if asked:  # the question names its product: no other product's rules answer it
            hits = [h for h in hits if products.product_of(h) in ("", *asked)]
        stranger = None if asked else products.unknown(q.simplified, names, self._knows)
        if stranger:
            flags.append("unknown_product")
        procedure = None
        if complaint:
            hits, procedure = self._with_procedure(hits)
        draft = self.extractive.compose(q, hits, procedure=procedure)
        answer_hits = [h for i, h in enumerate(hits) if i != procedure]
        features = self._features(q, answer_hits, draft)
        asking = False
        several = len(names) > 1  # a knowledge base of one product has no other to confuse it with
        if several and not asked and not stranger:
            hits = self._name_products(q, hits, draft, names, kind, tags)
            asking = any(p.text == products.ASK.get(q.language) for p in draft.pieces)
        answerable = self.models.answerable(features) if answer_hits else 0.0

        practice = abstention.no_company_source(q, self.guards, answer_hits)
        if practice:
            flags.append("no_company_source")
        outside = not account and not practice and abstention.out_of_scope(q, self.guards, answer_hits)
        if outside:
            flags.append("out_of_scope")
        ruled = [
            name
            for name, holds in (
                ("account_lookup", account),
                ("unknown_product", bool(stranger)),
                ("no_company_source", practice),
                ("out_of_scope", outside),
                ("no_shared_word", abstention.no_shared_word(answer_hits, draft.best_lexical)),
            )
            if holds
        ]
        # confidence is P(the reply cites a right source): 0 when a rule withholds the reply
        confidence = self.models.confidence(features) if answer_hits and not ruled else 0.0
        reason = ruled[0] if ruled else None
        if reason is None and not answer_hits:
            reason = "nothing_found"
        elif reason is None and answerable < self.threshold:
            reason = "below_threshold"

        mode = "extractive"
        dropped: list[str] = []
        if reason is None:
            kept = None
            if self.llm is not None:
                verified = self._verify_llm(q, hits, flags)
                if verified is not None:
                    kept, dropped = verified
                    mode = "llm"
            if kept is None:
                result = check_support(draft.pieces, hits, self.sim)
                kept, dropped = result.kept, result.dropped
            kept, dropped = self._comply(kept, dropped, flags)
            if abstention.nothing_left(kept):
                reason = "nothing_left"
            elif abstention.figure_not_in_sources(q, kept, hits):
                flags.append("figure_not_in_sources")
                reason, confidence = "figure_not_in_sources", 0.0
        reply, guidance = "", []
        if reason is not None:
            text, citations = self._abstain_reply(q, hits, procedure, complaint, draft.best_sentence, account)
            # nothing to send: what to do instead is the agent's
            guidance = [PHRASES[q.language]["account" if account else "abstain"]]
            if complaint:  # acknowledging the customer's feelings may be sent whatever else is found
                ph = PHRASES[q.language]
                reply = ("" if q.language == "zh" else " ").join([ph["complaint"], ph["closing"]])
                step = self.extractive.complaint_step(hits[procedure].chunk) if procedure is not None else ""
                if step:  # the procedure's first step, its source cited first among the closest
                    guidance.insert(0, ph["complaint_lead"] + marked(strip_markup(step), 1))
            if reason == "unknown_product":
                guidance = [products.UNKNOWN.get(q.language, products.UNKNOWN["en"]).format(p=stranger)]
            mode = "extractive"
        else:
            parts = split(kept, hits, q.language, keep_reply=complaint or asking, label_products=several and not asked)
            text, reply, guidance, citations = parts.text, parts.reply, parts.guidance, parts.citations
        answer = Answer(
            question=q.masked,
            text=text,
            citations=citations,
            abstained=reason is not None,
            confidence=round(confidence, 4),
            flags=flags,
            dropped=dropped,
            mode=mode,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            hits=hits,
            features=features,
            abstain_reason=reason,
            reply=reply,
            guidance=guidance,
        )
        log.info(
            "answered %r: abstained=%s (%s) confidence=%.2f citations=%d flags=%s",
            q.masked[:80], answer.abstained, reason, confidence, len(citations), ",".join(flags),
        )
        return answer

    def _comply(self, kept: list[Checked], dropped: list[str], flags: list[str]) -> tuple[list[Checked], list[str]]:
        result = check_compliance([c.text for c in kept], self.rules, exempt={i for i, c in enumerate(kept) if c.own})
        flags.extend(f"compliance:{rid}" for rid in result.violations if f"compliance:{rid}" not in flags)
        dropped = dropped + [kept[i].text for i, _ in result.removed]
        return [kept[i] for i in result.kept], dropped

    def _abstain_reply(
        self, q: Question, hits: list[Hit], procedure: int | None, complaint: bool, best: dict[int, str], account: bool
    ) -> tuple[str, list[Citation]]:
        ph = PHRASES[q.language]
        opener = ph["complaint"] if complaint else ph["greeting"]
        joiner = "" if q.language == "zh" else " "
        text = joiner.join([opener.strip(), ph["account" if account else "abstain"], ph["closing"]])
        order = list(range(len(hits))) if procedure is None else [procedure, *(i for i in range(len(hits)) if i != procedure)]
        ordered = [hits[i] for i in order]
        return text, self._abstain_citations(ordered, {k: best[i] for k, i in enumerate(order) if i in best})


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The `citedesk ask --json` object (a stable contract). `answer` is the whole answer (the reply,
    then the agent's guidance under its label); `reply` is what may be sent to the customer ("" when
    nothing may), `guidance` the agent's cited items; each citation says which `part` cites it."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "citations": [asdict(c) for c in answer.citations],
        "abstained": answer.abstained,
        "abstain_reason": answer.abstain_reason,
        "confidence": answer.confidence,
        "flags": list(answer.flags),
        "dropped": list(answer.dropped),
        "mode": answer.mode,
        "latency_ms": answer.latency_ms,
        "reply": answer.reply,
        "guidance": list(answer.guidance),
    }


__all__ = ["Answerer", "answer_to_dict", "Piece", "MAX_QUESTION_CHARS"]

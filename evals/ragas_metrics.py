"""The ragas bridge: ragas 0.4.3 metrics over the harness's per-question samples.

Without an LLM: IDBasedContextPrecision / IDBasedContextRecall (retrieved chunk ids vs. the chunks
of the item's expected sources), NonLLMContextRecall (Levenshtein similarity of those chunks' text
with the retrieved text) and NonLLMStringSimilarity (reference answer vs. answer). RougeScore is
left out: its tokenizer keeps only [a-z0-9] and scores Chinese as empty.

With Settings.judge_base_url (any OpenAI-compatible endpoint): Faithfulness, FactualCorrectness and
ResponseRelevancy (the latter embeds with the bundled e5 model). A failing judge is reported in
`errors` and leaves those metrics out; it never fails the run.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

from kb.errors import import_extra
from kb.settings import Settings

# ragas sends usage analytics unless told not to; an evaluation run never phones home.
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

NON_LLM = {
    "id_context_precision": ("reference_context_ids",),
    "id_context_recall": ("reference_context_ids",),
    "nonllm_context_recall": ("reference_contexts",),
    "string_similarity": ("reference",),
}
LLM_JUDGED = {
    "faithfulness": ("retrieved_contexts",),
    "factual_correctness": ("reference",),
    "answer_relevancy": (),
}


def _non_llm_metrics() -> dict[str, Any]:
    from ragas.metrics._context_precision import IDBasedContextPrecision
    from ragas.metrics._context_recall import IDBasedContextRecall, NonLLMContextRecall
    from ragas.metrics._string import NonLLMStringSimilarity

    return {
        "id_context_precision": IDBasedContextPrecision(),
        "id_context_recall": IDBasedContextRecall(),
        "nonllm_context_recall": NonLLMContextRecall(),
        "string_similarity": NonLLMStringSimilarity(),
    }


def _e5_embeddings():
    """ragas embeddings over the bundled e5 model (for ResponseRelevancy)."""
    import asyncio

    from ragas.embeddings.base import BaseRagasEmbeddings

    from kb.index.embedders import make_embedder

    class E5RagasEmbeddings(BaseRagasEmbeddings):
        def __init__(self) -> None:
            super().__init__()
            self._e5 = make_embedder("e5")

        def embed_query(self, text: str) -> list[float]:
            return self._e5.embed_queries([text])[0].tolist()

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self._e5.embed_queries(list(texts)).tolist()

        async def aembed_query(self, text: str) -> list[float]:
            return await asyncio.to_thread(self.embed_query, text)

        async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
            return await asyncio.to_thread(self.embed_documents, texts)

    return E5RagasEmbeddings()


def _llm_metrics(settings: Settings) -> dict[str, Any]:
    from langchain_openai import ChatOpenAI
    from ragas.llms import LangchainLLMWrapper
    from ragas.metrics._answer_relevance import ResponseRelevancy
    from ragas.metrics._factual_correctness import FactualCorrectness
    from ragas.metrics._faithfulness import Faithfulness
    from ragas.run_config import RunConfig

    chat = ChatOpenAI(
        base_url=settings.judge_base_url, model=settings.judge_model or "judge",
        api_key=settings.judge_api_key or "not-needed", timeout=settings.llm_timeout, max_retries=0, temperature=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        llm = LangchainLLMWrapper(chat)
    metrics = {
        "faithfulness": Faithfulness(llm=llm),
        "factual_correctness": FactualCorrectness(llm=llm),
        "answer_relevancy": ResponseRelevancy(llm=llm, embeddings=_e5_embeddings(), strictness=1),
    }
    run_config = RunConfig(timeout=int(settings.llm_timeout) + 1, max_retries=0, max_wait=1)
    for metric in metrics.values():
        metric.init(run_config)
    return metrics


class RagasScorer:
    """Called by the harness with its rows; sets row["ragas"] = {metric: score} on rows that carry a
    `_sample`, and returns {"metrics": names computed, "judge": bool, "errors": [...]}."""

    def __init__(self, settings: Settings, *, use_judge: bool | None = None):
        import_extra("ragas", "eval", "scoring with the ragas metrics")  # before any question is asked
        self.settings = settings
        self.use_judge = bool(settings.judge_base_url) if use_judge is None else use_judge

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        from ragas.dataset_schema import SingleTurnSample

        errors: list[str] = []
        metrics = _non_llm_metrics()
        requires = dict(NON_LLM)
        if self.use_judge:
            try:
                metrics.update(_llm_metrics(self.settings))
                requires.update(LLM_JUDGED)
            except Exception as exc:  # noqa: BLE001 - any judge set-up failure is reported, not fatal
                errors.append(f"LLM judge unavailable: {exc}")
        failed: dict[str, int] = {}
        computed: set[str] = set()
        for row in rows:
            data = row.get("_sample")
            if not data:
                continue
            sample = SingleTurnSample(**data)
            scores: dict[str, float] = {}
            for name, metric in metrics.items():
                if not all(data.get(f) for f in requires[name]):
                    continue
                try:
                    value = float(metric.single_turn_score(sample))
                except Exception as exc:  # noqa: BLE001 - a judge error for one item is recorded, not fatal
                    if name not in failed:
                        errors.append(f"{name} failed on item {row['id']}: {type(exc).__name__}: {exc}"[:300])
                    failed[name] = failed.get(name, 0) + 1
                    continue
                if not math.isnan(value):
                    scores[name] = round(value, 4)
                    computed.add(name)
            row["ragas"] = scores
        for name, n in failed.items():
            if n > 1:
                errors.append(f"{name} failed on {n} items in all")
        return {"metrics": sorted(computed), "judge": self.use_judge, "errors": errors}

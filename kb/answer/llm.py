"""The LLM composer: a chat model reached through llama-index's LLM interface, so where the model
runs is a setting (CITEDESK_LLM_PROVIDER): any OpenAI-compatible chat-completions endpoint (vLLM,
LM Studio, DashScope's compatible mode, DeepSeek, Ollama's /v1 …) through llama-index's OpenAILike,
or Ollama's own chat API through llama-index's Ollama (the `citedesk[ollama]` extra). A program
can also hand `LLMComposer` any llama-index LLM of its own.

The prompt holds the numbered sources and the masked question (kb.answer.pipeline masks personal
numbers before composing), and requires a [n] marker on every sentence. Whatever comes back is only
a draft: kb.answer.verify keeps the sentences their cited source supports. Any failure (timeout,
refused connection, HTTP error, an empty reply or one without a single marker) raises LLMError, and
the Answerer falls back to the extractive reply.
"""

from __future__ import annotations

import logging
from typing import Any

from kb.answer.verify import Piece
from kb.errors import ConfigError, LLMError, import_extra
from kb.settings import Settings
from kb.text.sentences import markers_in, split_sentences
from kb.types import Hit

log = logging.getLogger(__name__)

MAX_TOKENS = 600  # a reply is at most four sentences
CONTEXT_WINDOW = 8192  # the rules, five sources of at most 1,500 characters and the question fit

SYSTEM_ZH = (
    "你是一家消费信贷公司的客服助手，为客服人员起草回复客户的建议话术。\n"
    "规则：\n"
    "1. 只能使用下面编号资料中的信息作答，不得编造资料中没有的事实、数字、条件或承诺。\n"
    "2. 每一句话末尾都必须标注其依据的资料编号，例如：借款的利息不得预先在本金中扣除[1]。\n"
    "3. 数字、金额、利率、期限必须与资料原文一致；说明利率时须注明年化利率。\n"
    "4. 不要写问候语和结束语，只写回答本身，最多四句话，语气礼貌、简洁。\n"
    "5. 不得承诺审批通过、不查征信、不上征信或内部渠道等。\n"
    "6. 如果资料不足以回答，只回复：无法回答"
)
SYSTEM_EN = (
    "You draft replies for customer-service agents of a consumer-credit company.\n"
    "Rules: use only the numbered sources below; never invent facts, numbers, conditions or promises; "
    "end EVERY sentence with the number of the source it relies on, like: Interest may not be deducted "
    "in advance [1]. Numbers must match the sources; state interest rates as annualised rates. No greeting "
    "or closing, at most four sentences. If the sources do not answer the question, reply only: CANNOT ANSWER"
)
MAX_SOURCE_CHARS = 1500


class LLMNoAnswer(LLMError):
    """The model answered, but said the sources do not answer the question."""


def build_messages(question: str, hits: list[Hit], english: bool = False) -> list[dict[str, str]]:
    """Chat messages: the rules, then the numbered sources and the (already masked) question."""
    blocks = []
    for n, h in enumerate(hits, 1):
        head = " ".join(x for x in (h.chunk.meta.get("title", ""), h.chunk.section) if x)
        blocks.append(f"[{n}] {head}\n{h.chunk.text[:MAX_SOURCE_CHARS]}")
    sources = "\n\n".join(blocks)
    if english:
        user = f"Sources:\n{sources}\n\nCustomer question: {question}"
    else:
        user = f"资料：\n{sources}\n\n客户问题：{question}"
    return [{"role": "system", "content": SYSTEM_EN if english else SYSTEM_ZH}, {"role": "user", "content": user}]


def make_llm(settings: Settings) -> Any:
    """The llama-index LLM the settings name, with no retries (a slow or failing endpoint must give
    way to the extractive reply at once, not after retries with back-off) and temperature 0."""
    if not settings.llm_base_url or not settings.llm_model:
        raise ConfigError("the LLM composer needs CITEDESK_LLM_BASE_URL and CITEDESK_LLM_MODEL")
    timeout = float(settings.llm_timeout)
    if settings.llm_provider == "ollama":
        ollama = import_extra("llama_index.llms.ollama", "ollama", "the Ollama provider (CITEDESK_LLM_PROVIDER=ollama)")
        return ollama.Ollama(
            model=settings.llm_model, base_url=settings.llm_base_url, request_timeout=timeout, temperature=0.0,
            context_window=CONTEXT_WINDOW, additional_kwargs={"num_predict": MAX_TOKENS},
            headers={"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else None,
        )
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=settings.llm_model, api_base=settings.llm_base_url, api_key=settings.llm_api_key or "not-needed",
        is_chat_model=True, context_window=CONTEXT_WINDOW, temperature=0.0, max_tokens=MAX_TOKENS,
        timeout=timeout, max_retries=0,
    )


def _failure(exc: Exception, timeout: float) -> LLMError:
    """What went wrong, in words, whichever client the provider uses (openai's, or httpx under ollama's)."""
    import httpx
    import openai

    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return LLMError(f"the LLM endpoint did not answer within {timeout:g}s")
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return LLMError(f"cannot reach the LLM endpoint: {exc}")
    status = getattr(exc, "status_code", None)  # openai.APIStatusError, ollama.ResponseError
    if isinstance(status, int) and status >= 400:
        return LLMError(f"the LLM endpoint answered HTTP {status}")
    if isinstance(exc, IndexError | KeyError):
        return LLMError("the LLM endpoint gave a reply without a message")
    return LLMError(f"the LLM endpoint gave an unusable reply: {type(exc).__name__}: {exc}")


class LLMComposer:
    """Built once from the settings (or around a llama-index LLM given as `llm`); `compose` may be
    called from several threads."""

    def __init__(self, settings: Settings, llm: Any = None) -> None:
        self.llm = llm if llm is not None else make_llm(settings)
        self.model = getattr(self.llm, "model", None) or settings.llm_model
        self.timeout = float(settings.llm_timeout)

    def complete(self, messages: list[dict[str, str]]) -> str:
        from llama_index.core.llms import ChatMessage

        try:
            resp = self.llm.chat([ChatMessage(role=m["role"], content=m["content"]) for m in messages])
            content = resp.message.content
        except Exception as exc:  # noqa: BLE001 - whatever the client raised, the reply falls back
            raise _failure(exc, self.timeout) from exc
        if not isinstance(content, str) or not content.strip():
            raise LLMError("the LLM endpoint gave an empty reply")
        return content

    def compose(self, question: str, hits: list[Hit], *, english: bool = False) -> list[Piece]:
        """Draft sentences with [n] markers (n = position in `hits`). Raises LLMError."""
        if not hits:
            raise LLMError("no sources to answer from")
        content = self.complete(build_messages(question, hits, english))
        if "无法回答" in content[:20] or "CANNOT ANSWER" in content.upper()[:30]:
            raise LLMNoAnswer("the LLM found no answer in the sources")
        sentences = split_sentences(content)
        if not any(markers_in(s) for s in sentences):
            raise LLMError("the LLM reply cites no source")
        return [Piece(s) for s in sentences]

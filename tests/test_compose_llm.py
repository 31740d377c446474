"""The LLM composer against a real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions
protocol (and Ollama's chat API), reached through llama-index's LLM interface."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kb.answer.llm import LLMComposer, LLMNoAnswer, build_messages
from kb.errors import ConfigError, LLMError
from kb.settings import Settings
from kb.types import Chunk, Hit


class StandInLLM:
    """An OpenAI-compatible endpoint: POST /v1/chat/completions answers `reply`, or an HTTP
    `status`, or sleeps `delay` seconds first; every request body is kept in `requests`. POST
    /api/chat answers the same the way Ollama does."""

    def __init__(self) -> None:
        self.reply = "借款的利息不得预先在本金中扣除[1]。"
        self.status = 200
        self.delay = 0.0
        self.raw: bytes | None = None
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(body.decode("utf-8"))
                if outer.delay:
                    time.sleep(outer.delay)
                if outer.status != 200:
                    payload = json.dumps({"error": {"message": "boom"}}).encode()
                    self.send_response(outer.status)
                elif self.path == "/api/chat":
                    payload = outer.raw if outer.raw is not None else json.dumps({
                        "model": "stand-in", "created_at": "2025-01-01T00:00:00Z", "done": True,
                        "done_reason": "stop", "message": {"role": "assistant", "content": outer.reply},
                    }, ensure_ascii=False).encode("utf-8")
                    self.send_response(200)
                else:
                    payload = outer.raw if outer.raw is not None else json.dumps({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "stand-in",
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": outer.reply}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }, ensure_ascii=False).encode("utf-8")
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.root}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def settings(self, **kw) -> Settings:
        return Settings(llm_base_url=self.url, llm_model="stand-in", llm_api_key="k", **kw)

    def ollama_settings(self, **kw) -> Settings:
        return Settings(llm_provider="ollama", llm_base_url=self.root, llm_model="stand-in", **kw)


@pytest.fixture
def llm():
    with StandInLLM() as server:
        yield server


HITS = [
    Hit(Chunk("c1", "d1", "第六百七十条 借款的利息不得预先在本金中扣除。", section="第六百七十条",
              meta={"title": "民法典 借款合同"}), 0.9),
    Hit(Chunk("c2", "d2", "逾期超过三十日的，将报送征信。", meta={"title": "还款规则"}), 0.7),
]


def test_reply_is_split_into_marked_sentences(llm):
    llm.reply = "借款的利息不得预先在本金中扣除[1]。逾期超过30天会报送征信[2]。"
    pieces = LLMComposer(llm.settings()).compose("利息能先扣吗", HITS)
    assert [p.text for p in pieces] == ["借款的利息不得预先在本金中扣除[1]。", "逾期超过30天会报送征信[2]。"]
    assert not any(p.own for p in pieces)


def test_prompt_numbers_the_sources_and_holds_the_question(llm):
    LLMComposer(llm.settings()).compose("利息能先扣吗", HITS)
    body = json.loads(llm.requests[-1])
    assert body["model"] == "stand-in"
    user = body["messages"][-1]["content"]
    assert "[1] 民法典 借款合同 第六百七十条" in user and "[2] 还款规则" in user
    assert user.endswith("客户问题：利息能先扣吗")
    assert "[n]" not in body["messages"][0]["content"] and "[1]" in body["messages"][0]["content"]


def test_english_prompt():
    messages = build_messages("Can interest be deducted?", HITS, english=True)
    assert "Customer question: Can interest be deducted?" in messages[-1]["content"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ({"status": 500}, "HTTP 500"),
        ({"status": 401}, "HTTP 401"),
        ({"reply": "   "}, "empty"),
        ({"reply": "好的，我明白了。没问题。"}, "cites no source"),
        ({"raw": b"<html>not json</html>"}, "unusable"),
        ({"raw": b'{"choices": []}'}, "without a message"),
    ],
)
def test_failures_raise_llm_error(llm, setup, message):
    for k, v in setup.items():
        setattr(llm, k, v)
    with pytest.raises(LLMError, match=message):
        LLMComposer(llm.settings()).compose("利息能先扣吗", HITS)


def test_timeout_gives_way_quickly(llm):
    llm.delay = 2.0
    started = time.perf_counter()
    with pytest.raises(LLMError, match="did not answer within"):
        LLMComposer(llm.settings(llm_timeout=0.3)).compose("利息能先扣吗", HITS)
    assert time.perf_counter() - started < 1.5  # no retries


def test_connection_refused():
    with StandInLLM() as server:
        settings = server.settings()
    with pytest.raises(LLMError, match="cannot reach"):
        LLMComposer(settings).compose("利息能先扣吗", HITS)


def test_model_saying_it_cannot_answer(llm):
    llm.reply = "无法回答"
    with pytest.raises(LLMNoAnswer):
        LLMComposer(llm.settings()).compose("今天天气如何", HITS)


def test_needs_url_and_model():
    with pytest.raises(ConfigError, match="CITEDESK_LLM_BASE_URL"):
        LLMComposer(Settings(llm_base_url=None, llm_model=None))


# -- the same composer on other models: a configuration choice, or any llama-index LLM ----------


def test_ollama_is_a_configuration_choice(llm):
    llm.reply = "借款的利息不得预先在本金中扣除[1]。逾期超过30天会报送征信[2]。"
    composer = LLMComposer(llm.ollama_settings())
    pieces = composer.compose("利息能先扣吗", HITS)
    assert [p.text for p in pieces] == ["借款的利息不得预先在本金中扣除[1]。", "逾期超过30天会报送征信[2]。"]
    body = json.loads(llm.requests[-1])  # Ollama's own chat API, not the OpenAI one
    assert body["model"] == "stand-in" and body["stream"] is False and body["options"]["temperature"] == 0.0
    assert body["messages"][-1]["content"].endswith("客户问题：利息能先扣吗")


@pytest.mark.parametrize(("setup", "timeout", "message"), [
    ({"status": 500}, 20.0, "HTTP 500"),
    ({"delay": 3.0}, 0.5, "did not answer within"),
])
def test_ollama_failures_raise_llm_error(llm, setup, timeout, message):
    for k, v in setup.items():
        setattr(llm, k, v)
    with pytest.raises(LLMError, match=message):
        LLMComposer(llm.ollama_settings(llm_timeout=timeout)).compose("利息能先扣吗", HITS)


def test_ollama_unreachable():
    with StandInLLM() as server:
        settings = server.ollama_settings()
    with pytest.raises(LLMError, match="cannot reach"):
        LLMComposer(settings).compose("利息能先扣吗", HITS)


def test_ollama_without_its_extra_says_what_to_install(monkeypatch):
    import sys

    from kb.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "llama_index.llms.ollama", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'citedesk\[ollama\]'"):
        LLMComposer(Settings(llm_provider="ollama", llm_base_url="http://127.0.0.1:9", llm_model="m"))


def test_any_llama_index_llm_can_be_handed_in():
    """A program's own llama-index LLM (here a CustomLLM of the test's) composes the draft."""
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata

    seen = []

    class Scripted(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="scripted")

        def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
            seen.append(prompt)
            return CompletionResponse(text="逾期超过30天会报送征信[2]。")

        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
            yield self.complete(prompt)

    composer = LLMComposer(Settings(llm_base_url=None, llm_model=None), llm=Scripted())
    assert [p.text for p in composer.compose("逾期会上征信吗", HITS)] == ["逾期超过30天会报送征信[2]。"]
    assert "客户问题：逾期会上征信吗" in seen[-1] and "[2] 还款规则" in seen[-1]

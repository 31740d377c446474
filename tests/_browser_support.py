"""What the browser tests share: Debian's Chromium driven by Playwright against a real `uvicorn`
server over a small knowledge base (`site`, `browser`, `open_page`: a page whose JavaScript errors
fail the test), signing in, asking, and a host page of another origin for the widget. A test module
imports the fixtures it uses from here."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kb.settings import Settings
from ui.demo_site import PASSWORD, build_site, free_port, serve

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ANSWER_TIMEOUT = 90_000  # ms; the first answer loads the embedder


# A CRM page on another origin that may embed CiteDesk (CITEDESK_FRAME_ANCESTORS), and one that may not.
CRM_PORT, OTHER_PORT = free_port(), free_port()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    pytest.importorskip("playwright.sync_api")
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    build_site(data_dir)
    with serve(data_dir, env={"CITEDESK_FRAME_ANCESTORS": f"http://127.0.0.1:{CRM_PORT}"}) as base:
        yield base, Settings(data_dir=data_dir)


@contextmanager
def crm_page(port: int, citedesk: str):
    """A host page of another origin that loads the widget with one <script> tag."""
    page = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>CRM</title>'
            f'<link rel="icon" href="data:,"></head>'
            f'<body><h1>客户工单 #1024</h1><script src="{citedesk}/widget.js"></script></body></html>').encode()

    class Host(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page if self.path == "/" else b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, context):
        self.context = context
        self.page = context.new_page()
        self.errors: list[str] = []
        self.allowed: list[str] = []  # console messages a test expects (a page it is refused)
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)


@pytest.fixture
def open_page(site, browser):
    base, _ = site
    made: list[Watched] = []

    def make(role: str | None = None, width: int = 1100, lang: str | None = None) -> Watched:
        context = browser.new_context(base_url=base, viewport={"width": width, "height": 900},
                                      permissions=["clipboard-read", "clipboard-write"])
        if lang:
            context.add_cookies([{"name": "lang", "value": lang, "url": base}])
        w = Watched(context)
        made.append(w)
        if role:
            sign_in(w.page, {"agent": "agent1", "trainer": "trainer1", "admin": "admin1"}[role])
        return w

    yield make
    errors = [e for w in made for e in w.errors if not any(a in e for a in w.allowed)]
    for w in made:
        w.context.close()
    assert not errors, f"JavaScript errors: {errors}"


def sign_in(page, username: str) -> None:
    page.goto("/login")
    page.get_by_label(re.compile("用户名|User name")).fill(username)
    page.get_by_label(re.compile("^(密码|Password)$")).fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/sidebar$"))


def ask(page, question: str) -> None:
    """Ask with Ctrl+Enter and wait for this answer (each answer bumps #result[data-seq])."""
    before = page.get_attribute("#result", "data-seq") or "0"
    page.fill("#question", question)
    page.press("#question", "Control+Enter")
    page.wait_for_selector(f"#result:not([hidden]):not([data-seq='{before}'])", timeout=ANSWER_TIMEOUT)

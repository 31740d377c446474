"""Screenshots of the UI for the docs: `python -m ui.screenshots [--out docs/images]`.

Builds a throw-away site (the bundled demo documents when present, else the small test set),
records a few answers, feedback and evaluation runs, starts the real server and photographs the
sidebar (zh-CN and en), the trainer dashboard and the admin documents page with Chromium."""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from ui.demo_site import DOCS, PASSWORD, build_site, serve

ROOT = Path(__file__).resolve().parent.parent
DEMO_DOCS = ROOT / "kb" / "demo"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
QUESTION = "随心贷提前还款要收手续费吗？"


def _docs() -> dict[str, str]:
    files = sorted(DEMO_DOCS.glob("*/*.md")) if DEMO_DOCS.is_dir() else []
    return {f"{p.parent.name}-{p.name}": p.read_text(encoding="utf-8") for p in files} or DOCS


def _seed_history(data_dir: Path) -> None:
    """Past evaluation runs and answered questions, so the dashboard has something to show."""
    from kb.records import Records
    from kb.records.models import EvalRun, Interaction
    from kb.settings import Settings

    records = Records(Settings(data_dir=data_dir).records_url)
    now = records.now()
    runs = {"demo": [0.62, 0.68, 0.71, 0.74, 0.79, 0.83], "regression": [0.90, 0.88, 0.93, 0.95, 0.94, 0.96]}
    for set_name, scores in runs.items():
        for i, score in enumerate(scores):
            topics = {"提前还款": {"accuracy": min(1.0, score + 0.05)}, "逾期": {"accuracy": max(0.0, score - 0.08)},
                      "投诉": {"accuracy": score}}
            run_id = records.save_eval_run({"overall": {"accuracy": score, "hit@5": min(1.0, score + 0.1)},
                                            "per_topic": topics}, set_name)
            with records.Session.begin() as s:
                s.get(EvalRun, run_id).created_at = now - timedelta(days=5 * (len(scores) - 1 - i))
    verdicts = ["accepted"] * 7 + ["edited"] * 2 + ["rejected"]
    kinds = ["product", "procedure", "regulation", None, "product"]
    for i, verdict in enumerate(verdicts):
        iid = records.save_interaction({"question": f"示例问题 {i + 1}", "answer": "示例答复[1]。", "abstained": i == 9},
                                       kind=kinds[i % len(kinds)])
        with records.Session.begin() as s:
            s.get(Interaction, iid).created_at = now - timedelta(days=i % 6)
        records.add_feedback(iid, verdict, edited_reply="修改后的答复" if verdict == "edited" else None)
    records.close()


def take(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="citedesk-shots-") as tmp:
        data_dir = Path(tmp) / "data"
        build_site(data_dir, _docs())
        _seed_history(data_dir)
        with serve(data_dir) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
            for lang, name in (("zh-CN", "sidebar-zh.png"), ("en", "sidebar-en.png")):
                ctx = browser.new_context(base_url=base, viewport={"width": 400, "height": 1000},
                                          locale=lang)
                ctx.add_cookies([{"name": "lang", "value": lang, "url": base}])
                page = ctx.new_page()
                _sign_in(page, "agent1")
                page.fill("#question", QUESTION)
                page.press("#question", "Control+Enter")
                page.wait_for_selector("#result:not([hidden])", timeout=120_000)
                if page.locator("#reply .chip").count():
                    page.locator("#reply .chip").first.click()
                page.wait_for_timeout(600)
                page.evaluate("window.scrollTo(0, 0)")
                shots.append(_shot(page, out / name, full=True))
                ctx.close()
            ctx = browser.new_context(base_url=base, viewport={"width": 1200, "height": 900}, locale="zh-CN")
            page = ctx.new_page()
            _sign_in(page, "admin1")
            page.goto("/trainer/dashboard")
            shots.append(_shot(page, out / "trainer-dashboard.png", full=True))
            page.goto("/admin/documents")
            shots.append(_shot(page, out / "admin-documents.png", full=True))
            ctx.close()
            browser.close()
    return shots


def _sign_in(page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/sidebar")


def _shot(page, path: Path, full: bool = False) -> Path:
    page.screenshot(path=str(path), full_page=full)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="folder for the PNG files")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print("error: /usr/bin/chromium is missing (apt-get install chromium fonts-noto-cjk)", file=sys.stderr)
        return 2
    for path in take(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

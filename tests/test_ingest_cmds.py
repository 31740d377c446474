"""`citedesk ingest`, `docs`, `demo`: the JSON contract, exit codes and messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from api.cli.ingest_cmds import DEMO_DIR, demo_paths
from kb.knowledge import KnowledgeBase
from kb.settings import Settings, get_settings

DATA = Path(__file__).resolve().parent / "data"
REPORT_KEYS = {"documents_added", "documents_updated", "documents_unchanged", "documents_removed", "chunks_added",
               "chunks_removed", "errors"}  # fmt: skip


@pytest.fixture
def run(tmp_path):
    data_dir = tmp_path / "data"

    def invoke(*args: str):
        return CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], catch_exceptions=False)

    invoke.data_dir = data_dir
    return invoke


@pytest.fixture
def folder(tmp_path) -> Path:
    f = tmp_path / "docs"
    f.mkdir()
    shutil.copy(DATA / "product.md", f / "product.md")
    shutil.copy(DATA / "cases.jsonl", f / "cases.jsonl")
    return f


def test_ingest_json_contract_and_exit_codes(run, folder):
    result = run("ingest", str(folder), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert set(report) == REPORT_KEYS
    assert (report["documents_added"], report["errors"]) == (2, [])
    assert result.stdout.count("\n") == 1

    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    result = run("ingest", str(folder), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["documents_unchanged"] == 2 and report["documents_added"] == 0
    assert [Path(e["source"]).name for e in report["errors"]] == ["broken.pdf"]
    assert "broken.pdf" in report["errors"][0]["error"]

    result = run("ingest", str(folder / "nope.md"))
    assert result.exit_code == 1 and "no such file or folder" in result.stderr


def test_ingest_human_output_and_kind_option(run, folder):
    result = run("ingest", str(folder / "product.md"), "--kind", "procedure")
    assert result.exit_code == 0
    assert "documents: 1 added, 0 updated, 0 unchanged, 0 removed" in result.stdout
    listing = json.loads(run("docs", "list", "--json").stdout)["documents"]
    assert [(d["title"], d["kind"], d["chunks"]) for d in listing] == [("测试贷产品说明", "procedure", 2)]


def test_docs_list_show_remove(run, folder):
    run("ingest", str(folder), "--json")
    docs = json.loads(run("docs", "list", "--json").stdout)["documents"]
    by_title = {d["title"]: d for d in docs}
    assert set(by_title) == {"测试贷产品说明", "历史案例"}
    product = by_title["测试贷产品说明"]
    assert (product["kind"], product["status"], product["product"], product["version"]) == (
        "product", "active", "测试贷", "2026.1")

    shown = json.loads(run("docs", "show", product["doc_id"], "--json").stdout)
    assert shown["meta"]["effective_date"] == "2026-01-01"
    assert [c["section"] for c in shown["chunks"]] == ["利率与费用", "提前还款"]
    human = run("docs", "show", product["doc_id"]).stdout
    assert "2 chunks" in human and "利率与费用" in human

    assert "测试贷产品说明" in run("docs", "list").stdout
    result = run("docs", "remove", product["doc_id"])
    assert result.exit_code == 0 and "2 chunks" in result.stdout
    assert [d["title"] for d in json.loads(run("docs", "list", "--json").stdout)["documents"]] == ["历史案例"]

    missing = run("docs", "show", product["doc_id"])
    assert missing.exit_code == 2 and "no document" in missing.stderr
    assert run("docs", "remove", "d_nothing").exit_code == 2


def test_a_second_writer_gets_a_clear_message(run, folder):
    holder = KnowledgeBase.open(Settings(data_dir=run.data_dir), writer=True)
    try:
        result = run("ingest", str(folder), "--json")
    finally:
        holder.close()
    assert result.exit_code == 2
    assert "being written by another process" in result.stderr and result.stdout == ""


def test_demo_paths_include_regulations_only_when_present(tmp_path, corpora_dir):
    assert (DEMO_DIR / "products").is_dir()
    with_corpora = demo_paths(Settings(corpora_dir=corpora_dir))
    assert with_corpora == [DEMO_DIR, corpora_dir / "regulations_zh"]
    assert demo_paths(Settings(corpora_dir=tmp_path / "nowhere")) == [DEMO_DIR]


def test_demo_show_on_an_empty_kb_says_what_to_do(run):
    result = run("demo", "show")
    assert result.exit_code == 2 and "citedesk demo build" in result.stderr


@pytest.mark.slow
def test_demo_build_and_show(run, corpora_dir, monkeypatch):
    monkeypatch.setenv("CITEDESK_CORPORA_DIR", str(corpora_dir))
    get_settings.cache_clear()
    try:
        result = run("demo", "build", "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["errors"] == [] and report["documents_added"] >= 13 + 10
        again = json.loads(run("demo", "build", "--json").stdout)
        assert again["documents_added"] == 0 and again["documents_unchanged"] == report["documents_added"]
        shown = run("demo", "show").stdout
    finally:
        get_settings.cache_clear()
    assert shown.count("Q: ") == 3
    assert "随心贷" in shown and "投诉" in shown and "第六百七十条" in shown

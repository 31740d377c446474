"""The incremental pipeline against a real knowledge base (SQLite catalog, Chroma, bundled e5)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import ingest.pipeline as pipeline
from ingest.pipeline import PIPELINE_VERSION, discover, ingest_bytes, ingest_paths
from kb.errors import IngestError
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.types import make_doc_id

DATA = Path(__file__).resolve().parent / "data"
POLICY = """客户投诉处理规定
一、受理(一)渠道:客服热线、App在线客服和投诉邮箱均可受理投诉。(二)时限:收到投诉后24小时内首次响应,告知客户工单号。
二、处理(一)安抚:先对客户的感受表示理解,再核实事实。(二)升级:客户表示要向监管部门投诉的,2小时内升级给客服主管。
"""


class CountingEmbedder:
    """The real embedder, counting how many passages it was asked to embed."""

    def __init__(self, inner):
        self.inner, self.name, self.dim, self.passages = inner, inner.name, inner.dim, 0

    def embed_passages(self, texts):
        self.passages += len(texts)
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts):
        return self.inner.embed_queries(texts)


@pytest.fixture
def kb(tmp_path):
    base = KnowledgeBase.open(Settings(data_dir=tmp_path / "data"), writer=True)
    base.embedder = CountingEmbedder(base.embedder)
    yield base
    base.close()


@pytest.fixture
def docs(tmp_path) -> Path:
    folder = tmp_path / "docs"
    (folder / "products").mkdir(parents=True)
    shutil.copy(DATA / "product.md", folder / "products" / "product.md")
    shutil.copy(DATA / "faq_zh.csv", folder / "faq.csv")
    (folder / "complaints.txt").write_text(POLICY, encoding="utf-8")
    (folder / ".hidden.md").write_text("# 不该被收录\n\n隐藏文件。", encoding="utf-8")
    (folder / "README.md").write_text("# 说明\n\n这个文件夹的说明。", encoding="utf-8")
    (folder / "notes.rtf").write_text("{\\rtf1 不支持}", encoding="utf-8")
    return folder


def _state(kb):
    return {d.doc_id: (d.chunk_count, d.meta.get("content_hash")) for d in kb.documents()}


def test_walk_skips_hidden_readme_and_unsupported_files(docs):
    files, errors = discover([docs, docs / "missing-folder"])
    assert sorted(f.name for f in files) == ["complaints.txt", "faq.csv", "product.md"]
    assert errors == [{"source": str(docs / "missing-folder"), "error": f"{docs / 'missing-folder'}: no such file or folder"}]


def test_first_ingest_then_unchanged_is_skipped_without_parsing(kb, docs, monkeypatch):
    t0 = time.perf_counter()
    first = ingest_paths(kb, [docs], progress=False)
    first_s = time.perf_counter() - t0
    assert (first.documents_added, first.documents_unchanged, first.errors) == (3, 0, [])
    assert first.chunks_added == sum(n for n, _ in _state(kb).values()) > 3
    embedded = kb.embedder.passages
    assert embedded >= first.chunks_added  # FAQ key questions are embedded as well

    product_id = make_doc_id(str((docs / "products" / "product.md").resolve()))
    assert kb.get_document(product_id).title == "测试贷产品说明"
    assert kb.source_state(str((docs / "products" / "product.md").resolve()))["pipeline_version"] == PIPELINE_VERSION

    parsed = []
    real_load = pipeline.load_file
    monkeypatch.setattr(pipeline, "load_file", lambda *a, **k: parsed.append(a) or real_load(*a, **k))
    t0 = time.perf_counter()
    second = ingest_paths(kb, [docs], progress=False)
    second_s = time.perf_counter() - t0
    assert second.to_dict() == {
        "documents_added": 0, "documents_updated": 0, "documents_unchanged": 3, "documents_removed": 0,
        "chunks_added": 0, "chunks_removed": 0, "errors": [],
    }  # fmt: skip
    assert parsed == [] and kb.embedder.passages == embedded  # nothing parsed, nothing embedded
    assert first_s / second_s >= 50, (first_s, second_s)


def test_changed_file_replaces_its_chunks_and_embeds_only_new_ones(kb, docs):
    ingest_paths(kb, [docs], progress=False)
    path = docs / "complaints.txt"
    doc_id = make_doc_id(str(path.resolve()))
    before = {c.chunk_id: c.text for c in kb.chunks_of(doc_id)}
    embedded = kb.embedder.passages
    path.write_text(POLICY.replace("2小时内升级给客服主管", "1小时内升级给客服主管"), encoding="utf-8")
    report = ingest_paths(kb, [docs], progress=False)
    assert (report.documents_updated, report.documents_unchanged, report.errors) == (1, 2, [])
    after = {c.chunk_id: c.text for c in kb.chunks_of(doc_id)}
    assert any("1小时内升级" in t for t in after.values())
    assert not any("2小时内升级" in t for t in after.values())
    assert report.chunks_added == len(set(after) - set(before)) >= 1
    assert report.chunks_removed == len(set(before) - set(after)) >= 1
    assert kb.embedder.passages - embedded == report.chunks_added  # unchanged chunks are not embedded again
    hits = kb.search("客户要向监管投诉多久升级", k=3)
    assert hits and all("2小时内升级" not in h.chunk.text for h in hits)


def test_prune_removes_documents_whose_file_is_gone_only_under_the_given_roots(kb, docs, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.md").write_text("# 另一份\n\n这份文件在别的文件夹。", encoding="utf-8")
    ingest_paths(kb, [docs, other], progress=False)
    (docs / "faq.csv").unlink()
    (other / "keep.md").unlink()  # gone too, but not under the pruned root
    report = ingest_paths(kb, [docs], prune=True, progress=False)
    assert report.documents_removed == 1 and report.chunks_removed == 2
    titles = {d.title for d in kb.documents()}
    assert "常见问题：faq" not in titles and "另一份" in titles
    # without --prune nothing is removed
    (docs / "complaints.txt").unlink()
    assert ingest_paths(kb, [docs], progress=False).documents_removed == 0
    assert len(kb.documents()) == 3


def test_bad_files_are_reported_and_skipped_and_the_index_is_untouched(kb, docs):
    ingest_paths(kb, [docs], progress=False)
    before = _state(kb)
    bad = docs / "bad"
    bad.mkdir()
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.4 not really")
    (bad / "corrupt.docx").write_bytes(b"PK\x03\x04 nope")
    (bad / "front.md").write_text("---\nkind: brochure\n---\n# 标题\n\n正文。", encoding="utf-8")
    (bad / "columns.csv").write_text("title,body\nA,B\n", encoding="utf-8")
    (bad / "empty.txt").write_text("", encoding="utf-8")
    # a document that was fine and is now broken keeps its previous version
    (docs / "products" / "product.md").write_text("---\neffective_date: someday\n---\n# 测试贷\n", encoding="utf-8")
    report = ingest_paths(kb, [docs], progress=False)
    failed = {Path(e["source"]).name: e["error"] for e in report.errors}
    assert set(failed) == {"corrupt.pdf", "corrupt.docx", "front.md", "columns.csv", "empty.txt", "product.md"}
    assert "kind 'brochure'" in failed["front.md"] and "question, answer" in failed["columns.csv"]
    assert "effective_date must be a date" in failed["product.md"]
    assert report.documents_unchanged == 2 and report.documents_added == 0
    assert _state(kb) == before
    assert any("7.2%" in h.chunk.text for h in kb.search("测试贷的年化利率", k=3))


def test_ingest_bytes_for_uploads(kb):
    data = (DATA / "product.md").read_bytes()
    report = ingest_bytes(kb, "产品说明.md", data)
    assert report.documents_added == 1
    doc = kb.get_document(make_doc_id("upload:产品说明.md"))
    assert doc.source == "upload:产品说明.md" and doc.kind == "product"
    assert ingest_bytes(kb, "产品说明.md", data).documents_unchanged == 1
    updated = ingest_bytes(kb, "产品说明.md", data.replace(b"7.2%", b"6.9%"))
    assert updated.documents_updated == 1
    assert any("6.9%" in c.text for c in kb.chunks_of(doc.doc_id))
    with pytest.raises(IngestError, match="unsupported file type"):
        ingest_bytes(kb, "virus.exe", b"MZ")
    with pytest.raises(IngestError, match="not a readable PDF|no extractable text"):
        ingest_bytes(kb, "broken.pdf", b"%PDF-1.4 nope")
    assert len(kb.documents()) == 1

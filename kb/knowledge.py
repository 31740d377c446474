"""The KnowledgeBase facade: the one object the CLI, API, UI and evals use.

Writes go vectors first, then one catalog transaction, then orphan clean-up, so a failure at any
point leaves the previous version searchable; a chunk is visible only once its catalog row is
committed. Concurrent readers and one writer may share an instance (the web server searches
while a background task ingests); only one process may open a data directory as writer. In a
shared deployment (Settings.shared) the catalog is on PostgreSQL and the vectors on a Chroma
server; readers in other processes `follow` the catalog's snapshot, and one worker writes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.exc import IntegrityError

from kb.bundles import load_bundles
from kb.errors import ConfigError, NotFoundError, StoreError, ValidationError
from kb.index import added_keys
from kb.index.catalog import SENTENCE_REFS_STATE, Catalog
from kb.index.embedders import Embedder, make_embedder
from kb.index.encoder_process import search_query_encoder
from kb.index.follow import SnapshotFollower
from kb.index.lexical import LexicalIndex, chunk_tokens
from kb.index.locking import DatabaseWriterLock, WriterLock
from kb.index.prepare import fingerprint as chunks_fingerprint
from kb.index.prepare import prepare_chunks, vector_entries
from kb.index.query_encoder import ADAPTER_FOLDER
from kb.index.similarity import SentenceSimilarity
from kb.index.vectorstore import ChromaStore, collection_name, make_client
from kb.search.filters import DocMeta, doc_status
from kb.search.rerank import SentenceScorer
from kb.search.retriever import HybridRetriever
from kb.settings import Settings
from kb.text.lexicon import load_lexicon
from kb.text.question import Question
from kb.text.quotable import answer_sentences
from kb.types import Chunk, Document, Hit, SearchFilters

log = logging.getLogger(__name__)



@dataclass
class UpsertResult:
    doc_id: str
    status: str  # "added" | "updated" | "unchanged"
    chunks_added: int = 0
    chunks_removed: int = 0


@dataclass
class DocumentInfo:
    doc_id: str
    title: str
    kind: str
    source: str
    chunk_count: int
    status: str  # "active" | "expired" | "future"
    meta: dict[str, Any] = field(default_factory=dict)
    updated_at: str | None = None


class KnowledgeBase:
    def __init__(self, settings: Settings, catalog: Catalog, embedder: Embedder, client, lock):
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.catalog = catalog
        self.embedder = embedder
        self.client = client
        self._lock = lock
        self._write_lock = threading.RLock()
        self._docs_cache: tuple[str, dict[str, DocMeta]] | None = None
        self._docs_lock = threading.Lock()
        self.follower: SnapshotFollower | None = None
        name = catalog.get_state("collection")
        if name is None:  # a new knowledge base (two processes starting at once agree on one name)
            state = catalog.init_state({"collection": collection_name(embedder.name, uuid.uuid4().hex[:6]),
                                        "embedder": embedder.name, "embedder_spec": settings.embedder})
            name = state["collection"]
        if catalog.get_state("embedder") != embedder.name:
            raise ConfigError(
                f"this knowledge base was indexed with the embedder {catalog.get_state('embedder')!r}, but the "
                f"settings ask for {embedder.name!r} (CITEDESK_EMBEDDER={settings.embedder!r}); run "
                "`citedesk reindex --embedder <spec>` to re-embed, or set CITEDESK_EMBEDDER back"
            )
        self.store = ChromaStore(client, name)
        # a shared deployment's readers each keep their index in memory (kb.index.lexical)
        self.lexical = LexicalIndex(catalog, None if settings.shared else self.data_dir / "lexical")
        self.bundles = load_bundles(settings.bundles)
        self.lexicon = load_lexicon(self.bundles)
        self.retriever = self._retriever(embedder, self.store)

    def _retriever(self, embedder: Embedder, store: ChromaStore) -> HybridRetriever:
        """The retriever for `embedder`; also sets self.sim, the sentence similarity the retriever's
        re-ranking and the composers share (so a question's vector is computed once per reply)."""
        name = embedder.name
        self.sim = SentenceSimilarity(embedder, stored=lambda texts: self.catalog.sentence_vectors(name, texts))
        adapters = [b.part(ADAPTER_FOLDER) for b in self.bundles if b.part(ADAPTER_FOLDER) is not None]
        encoder = search_query_encoder(embedder, self.settings.query_encoder, adapters[0] if adapters else None)
        return HybridRetriever(
            self.catalog,
            store,
            self.lexical,
            embedder,
            self._documents_meta,
            query_encoder=encoder,
            sentences=SentenceScorer(self.sim) if self.settings.rerank else None,
            lexicon=self.lexicon,
        )

    @classmethod
    def open(
        cls, settings: Settings, writer: bool = False, embedder: Embedder | None = None, wait: float = 0.0
    ) -> KnowledgeBase:
        """Open the knowledge base in settings.data_dir, or the shared one — a writer creates it when
        needed, a reader (writer=False) refuses a data directory that holds none rather than leave an
        empty one behind (a mistyped --data-dir); `embedder` overrides the one named by
        settings.embedder (it must carry the same name as the indexed one). A shared writer waits up
        to `wait` seconds for the writer lock."""
        data_dir = Path(settings.data_dir)
        if not writer and not settings.shared and not (data_dir / "catalog.sqlite").is_file():
            raise NotFoundError(f"no knowledge base in {data_dir} (check --data-dir or CITEDESK_DATA_DIR; "
                                "`citedesk ingest` or `citedesk demo build` creates one)")
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = None
        if writer:
            lock = DatabaseWriterLock(settings.database_url) if settings.shared else WriterLock(data_dir)
            lock.acquire(wait) if settings.shared else lock.acquire()
        try:
            embedder = embedder or make_embedder(settings.embedder)
            catalog = Catalog(settings.catalog_location)
            kb = cls(settings, catalog, embedder, make_client(data_dir, settings.chroma_url), lock)
            if writer:
                kb._record_sentence_refs()
            return kb
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.catalog.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def writer(self) -> bool:
        return self._lock is not None and self._lock.held

    @property
    def writer_lock(self):
        return self._lock

    @property
    def snapshot_id(self) -> str:
        """The snapshot searches answer from: the catalog's, or for a following reader the one its
        index was last built from (what an ask records)."""
        if self.lexical.following:
            return self.lexical.snapshot_id or self.catalog.snapshot_id
        return self.catalog.snapshot_id

    # -- following the catalog (readers of a shared deployment) ------------------------------

    def follow(self, interval: float | None = None, wait_for_notice=None) -> SnapshotFollower:
        """Serve from the snapshot last loaded and move to the catalog's newest in the background
        (kb.index.follow); `wait_for_notice(timeout)` wakes the follower early on a change notice."""
        self.lexical.following = True
        self.follower = SnapshotFollower(self.refresh, interval or self.settings.follow_seconds, wait_for_notice)
        return self.follower.start()

    def refresh(self) -> str | None:
        """Move to the catalog's current snapshot: the vector collection and embedder (after a
        reindex), the lexical index, the documents; the new snapshot id, or None if current."""
        if self.lexical.snapshot_id is not None and self.lexical.snapshot_id == self.catalog.snapshot_id:
            return None
        name = self.catalog.get_state("collection")
        if name and name != self.store.name:
            embedder = self.embedder
            if self.catalog.get_state("embedder") != embedder.name:
                embedder = make_embedder(self.catalog.get_state("embedder_spec") or self.settings.embedder)
            store = ChromaStore(self.client, name)
            self.retriever = self._retriever(embedder, store)
            self.embedder, self.store = embedder, store
        self.lexical.rebuild()
        self._documents_meta()
        return self.lexical.snapshot_id

    def _record_sentence_refs(self) -> None:
        """Once per catalog written before `sentence_refs` existed: record which chunk quotes which
        answer sentence, and delete the vectors of sentences no chunk quotes (removed documents')."""
        if self.catalog.get_state(SENTENCE_REFS_STATE) == "1":
            return
        with self._write_lock:
            refs = {c.chunk_id: answer_sentences(c) for batch in self.catalog.iter_chunks() for c in batch}
            pruned = self.catalog.record_sentence_refs(refs)
            if pruned:
                log.info("deleted %d vectors of sentences no document quotes any more", pruned)

    def _require_writer(self) -> None:
        if not self.writer:
            raise StoreError("this knowledge base was opened read-only; open it with writer=True to change it")

    # -- writes ------------------------------------------------------------------------------

    def _new_sentence_vectors(self, embedder: Embedder, per_chunk: list[list[str]]) -> dict[str, np.ndarray]:
        """Vectors of the chunks' answer sentences (`answer_sentences` of each chunk) not stored
        yet, embedded as the composer embeds them (kb.index.similarity.SentenceSimilarity: query prefix), so
        a reply embeds only its question."""
        texts = list(dict.fromkeys(s for sentences in per_chunk for s in sentences))
        if not texts:
            return {}
        known = self.catalog.sentence_vectors(embedder.name, texts)
        todo = [t for t in texts if t not in known]
        return dict(zip(todo, embedder.embed_queries(todo), strict=True)) if todo else {}

    def sentence_vectors(self, texts: list[str], embedder_name: str | None = None) -> dict[str, np.ndarray]:
        """Stored vectors of answer sentences (by default for the current embedder)."""
        return self.catalog.sentence_vectors(embedder_name or self.embedder.name, texts)

    def upsert_document(self, doc: Document, chunks: list[Chunk]) -> UpsertResult:
        self._require_writer()
        # keys added after ingest (kb.index.added_keys: graded questions, accepted replies) come back
        chunks = added_keys.apply(doc.doc_id, chunks, added_keys.parse(self.catalog.get_state(added_keys.STATE_KEY)))
        prepared = prepare_chunks(doc, chunks)
        fingerprint = chunks_fingerprint(doc, prepared)
        with self._write_lock:
            if self.catalog.fingerprint(doc.doc_id) == fingerprint:
                return UpsertResult(doc.doc_id, "unchanged")
            existed = self.catalog.get_document(doc.doc_id) is not None
            old = {c.chunk_id: c for c in self.catalog.chunks_of(doc.doc_id)}
            new_ids = [c.chunk_id for c in prepared]
            present = self.store.has(new_ids)
            need = [
                c
                for c in prepared
                if c.chunk_id not in present
                or (c.chunk_id in old and old[c.chunk_id].meta.get("keys") != c.meta.get("keys"))
            ]
            self.store.add(vector_entries(self.embedder, need))  # vectors first: invisible until the catalog commits
            quoted = [answer_sentences(c) for c in prepared]
            sentences = self._new_sentence_vectors(self.embedder, quoted)
            tokens = [" ".join(chunk_tokens(c)) for c in prepared]
            try:
                with self.catalog.transaction() as conn:
                    self.catalog.replace_document(conn, doc, prepared, tokens, fingerprint, quoted)
                    self.catalog.add_sentence_vectors(conn, self.embedder.name, sentences)
            except IntegrityError as exc:
                raise ValidationError(f"document {doc.doc_id}: a chunk id is already used by another document") from exc
            removed = [cid for cid in old if cid not in set(new_ids)]
            stale_keys = [
                f"{c.chunk_id}#k{i}"
                for c in prepared
                if c.chunk_id in old
                for i in range(len(c.meta.get("keys") or []), len(old[c.chunk_id].meta.get("keys") or []))
            ]
            self._drop_vectors(removed, stale_keys)
            return UpsertResult(
                doc.doc_id,
                "updated" if existed else "added",
                chunks_added=len([c for c in new_ids if c not in old]),
                chunks_removed=len(removed),
            )

    def _drop_vectors(self, chunk_ids: list[str], entry_ids: list[str] = ()) -> None:
        # the catalog already forgot these chunks, so a failure here only leaves unused vectors behind
        try:
            if chunk_ids:
                self.store.delete(chunk_ids)
            if entry_ids:
                self.store.delete_entries(list(entry_ids))
        except Exception as exc:  # noqa: BLE001 - logged, search ignores vectors without a catalog row
            log.warning("could not delete %d orphaned vectors: %s", len(chunk_ids) + len(entry_ids), exc)

    def remove_document(self, doc_id: str) -> int:
        self._require_writer()
        with self._write_lock:
            if self.catalog.get_document(doc_id) is None:
                raise NotFoundError(f"no document {doc_id!r} in the knowledge base")
            with self.catalog.transaction() as conn:
                removed = self.catalog.delete_document(conn, doc_id)
            self._drop_vectors(removed)
            return len(removed)

    # -- reads -------------------------------------------------------------------------------

    def source_state(self, source_key: str) -> dict[str, Any] | None:
        return self.catalog.source_state(source_key)

    def _documents_meta(self) -> dict[str, DocMeta]:
        snap = self.snapshot_id
        with self._docs_lock:
            if self._docs_cache is None or self._docs_cache[0] != snap:
                rows = self.catalog.document_rows()
                docs = {r["doc_id"]: DocMeta(r["doc_id"], r["title"], r["kind"], r["source"], r["meta"]) for r in rows}
                self._docs_cache = (snap, docs)
            return self._docs_cache[1]

    def documents(self, on_date: str | None = None) -> list[DocumentInfo]:
        return [
            DocumentInfo(
                doc_id=r["doc_id"],
                title=r["title"],
                kind=r["kind"],
                source=r["source"],
                chunk_count=r["chunk_count"],
                status=doc_status(r["meta"], on_date),
                meta=r["meta"],
                updated_at=r["updated_at"],
            )
            for r in self.catalog.document_rows()
        ]

    def get_document(self, doc_id: str) -> Document | None:
        return self.catalog.get_document(doc_id)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        return self.catalog.chunks_of(doc_id)

    def get_chunk(self, chunk_id: str) -> Chunk | None:
        return self.catalog.get_chunks([chunk_id]).get(chunk_id)

    def search(self, query: str | Question, k: int | None = None, filters: SearchFilters | None = None) -> list[Hit]:
        """Hybrid search. A string is searched as given; the answer pipeline passes its Question
        (masked, without the clauses that only give a personal number)."""
        text = query.searched if isinstance(query, Question) else query
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("the question is empty")
        k = self.settings.top_k if k is None else int(k)
        if k < 1:
            raise ValidationError("k must be at least 1")
        return self.retriever.search(query if isinstance(query, Question) else query.strip(), k, filters)

    def stats(self) -> dict[str, Any]:
        counts = self.catalog.counts()
        return {
            **counts,
            "vectors": self.store.count(),
            "embedder": self.embedder.name,
            "embedder_spec": self.settings.embedder,
            "collection": self.store.name,
            "chroma": self.settings.chroma_url or "embedded",
            "snapshot_id": self.snapshot_id,
            "catalog_snapshot_id": self.catalog.snapshot_id,
            "lexical_snapshot_id": self.lexical.snapshot_id,
            "data_dir": str(self.data_dir),
        }

    # -- reindex -----------------------------------------------------------------------------

    def reindex(self, embedder_spec: str | None = None, batch: int = 64) -> dict[str, Any]:
        """Re-embed every chunk into a new collection; switch over only when it is complete."""
        self._require_writer()
        spec = embedder_spec or self.settings.embedder
        embedder = make_embedder(spec)
        with self._write_lock:
            started = time.perf_counter()
            new = ChromaStore(self.client, collection_name(embedder.name, uuid.uuid4().hex[:6]))
            done = 0
            try:
                for chunks in self.catalog.iter_chunks(batch):
                    new.add(vector_entries(embedder, chunks))
                    sentences = self._new_sentence_vectors(embedder, [answer_sentences(c) for c in chunks])
                    with self.catalog.transaction(snapshot=False) as conn:
                        self.catalog.add_sentence_vectors(conn, embedder.name, sentences)
                    done += len(chunks)
            except BaseException:
                new.drop()
                raise
            old = self.store
            self.catalog.set_state({"collection": new.name, "embedder": embedder.name, "embedder_spec": spec})
            with self.catalog.transaction(snapshot=False) as conn:  # the old embedder's are of no use now
                self.catalog.keep_sentence_vectors_of(conn, embedder.name)
            self.embedder, self.store = embedder, new
            self.settings = self.settings.model_copy(update={"embedder": spec})
            self.retriever = self._retriever(embedder, new)
            if self.settings.shared:  # readers in other processes move to the new collection first
                time.sleep(3 * self.settings.follow_seconds)
            try:
                old.drop()
            except StoreError as exc:
                log.warning("%s", exc)
            return {
                "collection": new.name,
                "previous_collection": old.name,
                "embedder": embedder.name,
                "chunks": done,
                "vectors": new.count(),
                "seconds": round(time.perf_counter() - started, 2),
            }

"""The catalog: one SQLite file, the source of truth for documents and chunks.

It also holds the ingest state per source (content hash, pipeline version), a snapshot id that
changes with every committed write, which vector collection is active (with its embedder), and
the embeddings of the chunks' answer sentences, computed at ingest so that composing a reply
embeds only the question (keyed by embedder and sentence text, shared by every chunk quoting it;
`sentence_refs` records which chunk quotes which sentence, so a sentence's vector is deleted in
the same transaction as the last chunk quoting it).
WAL mode lets readers proceed while the one writer commits; every write is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import StoreError
from kb.types import Chunk, Document, stable_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    source_key TEXT NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL,
    content_hash TEXT,
    pipeline_version TEXT,
    fingerprint TEXT,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS documents_source_key ON documents(source_key);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    text TEXT NOT NULL,
    section TEXT NOT NULL,
    span_start INTEGER,
    span_end INTEGER,
    meta TEXT NOT NULL,
    tokens TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, ord);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sentence_vectors (
    embedder TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, text_hash)
);
CREATE TABLE IF NOT EXISTS sentence_refs (
    chunk_id TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    PRIMARY KEY (chunk_id, text_hash)
);
CREATE INDEX IF NOT EXISTS sentence_refs_hash ON sentence_refs(text_hash);
"""

# state key: set once every chunk's sentences are recorded in sentence_refs (catalogs written
# before the table existed get them from KnowledgeBase on the next write)
SENTENCE_REFS_STATE = "sentence_refs"

_CHUNK_COLS = "chunk_id, doc_id, ord, text, section, span_start, span_end, meta"


def _row_to_chunk(row: sqlite3.Row) -> Chunk:
    span = (row["span_start"], row["span_end"]) if row["span_start"] is not None else None
    return Chunk(
        chunk_id=row["chunk_id"],
        doc_id=row["doc_id"],
        text=row["text"],
        section=row["section"],
        span=span,
        meta=json.loads(row["meta"]),
    )


def _row_to_document(row: sqlite3.Row) -> Document:
    return Document(
        doc_id=row["doc_id"],
        title=row["title"],
        kind=row["kind"],
        source=row["source"],
        text=row["text"],
        meta=json.loads(row["meta"]),
    )


class Catalog:
    """Thread-safe: one connection guarded by a lock (SQLite serialises writers anyway)."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the catalog {path}: {exc}") from exc
        self._lock = threading.RLock()
        self.path = path

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- low level ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self, snapshot: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; the snapshot id changes when it commits (unless `snapshot` is
        False: for writes that change no document or chunk, such as sentence vectors)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                if snapshot:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO state(key, value) VALUES ('snapshot_id', ?)", (uuid.uuid4().hex[:16],)
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    # -- state -----------------------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM state WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_state(self, values: dict[str, str]) -> None:
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", list(values.items()))

    @property
    def snapshot_id(self) -> str:
        return self.get_state("snapshot_id") or "empty"

    # -- sentence vectors ------------------------------------------------------------------

    def sentence_vectors(self, embedder: str, texts: list[str]) -> dict[str, np.ndarray]:
        """The stored vector of each text that has one (for this embedder)."""
        by_hash = {stable_hash(t, length=32): t for t in texts}
        out: dict[str, np.ndarray] = {}
        keys = list(by_hash)
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            rows = self._query(
                f"SELECT text_hash, vector FROM sentence_vectors WHERE embedder = ? AND text_hash IN ({','.join('?' * len(part))})",
                [embedder, *part],
            )
            for r in rows:
                out[by_hash[r["text_hash"]]] = np.frombuffer(r["vector"], dtype=np.float32)
        return out

    @staticmethod
    def add_sentence_vectors(conn: sqlite3.Connection, embedder: str, vectors: dict[str, np.ndarray]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO sentence_vectors(embedder, text_hash, vector) VALUES (?, ?, ?)",
            [(embedder, stable_hash(t, length=32), np.asarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()],
        )

    @staticmethod
    def add_sentence_refs(conn: sqlite3.Connection, refs: dict[str, list[str]]) -> None:
        """Record that each chunk quotes these sentences (chunk id → sentence texts)."""
        conn.executemany(
            "INSERT OR IGNORE INTO sentence_refs(chunk_id, text_hash) VALUES (?, ?)",
            [(cid, stable_hash(t, length=32)) for cid, texts in refs.items() for t in texts],
        )

    @staticmethod
    def _release_sentences(conn: sqlite3.Connection, doc_id: str) -> list[str]:
        """Forget which sentences the document's chunks quote; the hashes they quoted."""
        sub = "SELECT chunk_id FROM chunks WHERE doc_id = ?"
        hashes = [r[0] for r in conn.execute(f"SELECT DISTINCT text_hash FROM sentence_refs WHERE chunk_id IN ({sub})", (doc_id,))]
        conn.execute(f"DELETE FROM sentence_refs WHERE chunk_id IN ({sub})", (doc_id,))
        return hashes

    @staticmethod
    def prune_sentence_vectors(conn: sqlite3.Connection, hashes: list[str] | None = None) -> int:
        """Delete the vectors of sentences no chunk quotes any more (of `hashes`, or all)."""
        orphan = "NOT EXISTS (SELECT 1 FROM sentence_refs r WHERE r.text_hash = sentence_vectors.text_hash)"
        if hashes is None:
            return conn.execute(f"DELETE FROM sentence_vectors WHERE {orphan}").rowcount
        n = 0
        for i in range(0, len(hashes), 500):
            part = hashes[i : i + 500]
            n += conn.execute(
                f"DELETE FROM sentence_vectors WHERE text_hash IN ({','.join('?' * len(part))}) AND {orphan}", part
            ).rowcount
        return n

    def record_sentence_refs(self, refs: dict[str, list[str]]) -> int:
        """Once per catalog written before `sentence_refs` existed: record which chunk quotes which
        sentence (every chunk's, `refs`) and delete the vectors no chunk quotes; how many."""
        with self.transaction(snapshot=False) as conn:
            self.add_sentence_refs(conn, refs)
            pruned = self.prune_sentence_vectors(conn)
            conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES (?, '1')", (SENTENCE_REFS_STATE,))
        return pruned

    @staticmethod
    def keep_sentence_vectors_of(conn: sqlite3.Connection, embedder: str) -> int:
        """After a reindex: drop the sentence vectors of every other embedder."""
        return conn.execute("DELETE FROM sentence_vectors WHERE embedder != ?", (embedder,)).rowcount

    # -- writes ----------------------------------------------------------------------------

    def replace_document(
        self,
        conn: sqlite3.Connection,
        doc: Document,
        chunks: list[Chunk],
        tokens: list[str],
        fingerprint: str,
        sentences: list[list[str]] | None = None,
    ) -> None:
        """Inside a transaction: the document row and exactly these chunks (with the answer
        sentences each quotes, `sentences[i]` for `chunks[i]`); vectors of sentences that only
        the old version quoted are deleted."""
        meta = dict(doc.meta)
        released = self._release_sentences(conn, doc.doc_id)
        conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc.doc_id,))
        conn.execute(
            "INSERT OR REPLACE INTO documents(doc_id, title, kind, source, source_key, text, meta, content_hash,"
            " pipeline_version, fingerprint, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            (
                doc.doc_id,
                doc.title,
                doc.kind,
                doc.source,
                str(meta.get("source_key") or doc.source),
                doc.text,
                json.dumps(meta, ensure_ascii=False, sort_keys=True),
                meta.get("content_hash"),
                None if meta.get("pipeline_version") is None else str(meta.get("pipeline_version")),
                fingerprint,
            ),
        )
        conn.executemany(
            f"INSERT INTO chunks({_CHUNK_COLS}, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.chunk_id,
                    doc.doc_id,
                    int(c.meta.get("ord", i)),
                    c.text,
                    c.section or "",
                    c.span[0] if c.span else None,
                    c.span[1] if c.span else None,
                    json.dumps(c.meta, ensure_ascii=False, sort_keys=True),
                    tok,
                )
                for i, (c, tok) in enumerate(zip(chunks, tokens, strict=True))
            ],
        )
        if sentences is not None:
            self.add_sentence_refs(conn, {c.chunk_id: s for c, s in zip(chunks, sentences, strict=True)})
        self.prune_sentence_vectors(conn, released)

    def delete_document(self, conn: sqlite3.Connection, doc_id: str) -> list[str]:
        ids = [r[0] for r in conn.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,))]
        released = self._release_sentences(conn, doc_id)
        conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        self.prune_sentence_vectors(conn, released)
        return ids

    # -- reads -----------------------------------------------------------------------------

    def get_document(self, doc_id: str) -> Document | None:
        rows = self._query("SELECT * FROM documents WHERE doc_id = ?", (doc_id,))
        return _row_to_document(rows[0]) if rows else None

    def fingerprint(self, doc_id: str) -> str | None:
        rows = self._query("SELECT fingerprint FROM documents WHERE doc_id = ?", (doc_id,))
        return rows[0][0] if rows else None

    def source_state(self, source_key: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT doc_id, content_hash, pipeline_version FROM documents WHERE source_key = ? OR doc_id = ?"
            " ORDER BY source_key = ? DESC LIMIT 1",
            (source_key, source_key, source_key),
        )
        return dict(rows[0]) if rows else None

    def document_rows(self) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT d.doc_id, d.title, d.kind, d.source, d.meta, d.content_hash, d.pipeline_version, d.updated_at,"
            " (SELECT COUNT(*) FROM chunks c WHERE c.doc_id = d.doc_id) AS chunk_count"
            " FROM documents d ORDER BY d.title, d.doc_id"
        )
        out = []
        for r in rows:
            d = dict(r)
            d["meta"] = json.loads(d["meta"])
            out.append(d)
        return out

    def chunk_ids_of(self, doc_id: str) -> list[str]:
        return [r[0] for r in self._query("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY ord", (doc_id,))]

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        rows = self._query(f"SELECT {_CHUNK_COLS} FROM chunks WHERE doc_id = ? ORDER BY ord, chunk_id", (doc_id,))
        return [_row_to_chunk(r) for r in rows]

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        ids = list(dict.fromkeys(chunk_ids))
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for r in self._query(f"SELECT {_CHUNK_COLS} FROM chunks WHERE chunk_id IN ({marks})", part):
                out[r["chunk_id"]] = _row_to_chunk(r)
        return out

    @contextmanager
    def lexical_rows(self, batch: int = 4096) -> Iterator[tuple[str, Iterator[tuple[str, str, str]]]]:
        """(snapshot id, rows (chunk_id, doc_id, space-joined tokens)) read consistently in one
        transaction, a batch at a time: the rows of a large catalog are never all in memory."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                cursor = self._conn.execute("SELECT chunk_id, doc_id, tokens FROM chunks ORDER BY rowid")

                def rows() -> Iterator[tuple[str, str, str]]:
                    while chunk := cursor.fetchmany(batch):
                        for r in chunk:
                            yield r[0], r[1], r[2]

                yield self.snapshot_id, rows()
            finally:
                self._conn.execute("COMMIT")

    def iter_chunks(self, batch: int = 256) -> Iterator[list[Chunk]]:
        last = ""
        while True:
            rows = self._query(
                f"SELECT {_CHUNK_COLS} FROM chunks WHERE chunk_id > ? ORDER BY chunk_id LIMIT ?", (last, batch)
            )
            if not rows:
                return
            yield [_row_to_chunk(r) for r in rows]
            last = rows[-1]["chunk_id"]

    def counts(self) -> dict[str, int]:
        docs = self._query("SELECT COUNT(*) FROM documents")[0][0]
        chunks = self._query("SELECT COUNT(*) FROM chunks")[0][0]
        return {"documents": int(docs), "chunks": int(chunks)}

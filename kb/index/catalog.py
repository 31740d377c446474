"""The catalog: the source of truth for documents and chunks — a SQLite file in the data directory,
or PostgreSQL tables shared by every process of a deployment (kb/index/catalog_db.py).

It also holds the ingest state per source (content hash, pipeline version), a snapshot id that
changes with every committed write, which vector collection is active (with its embedder), and
the embeddings of the chunks' answer sentences, computed at ingest so that composing a reply
embeds only the question (keyed by embedder and sentence text, shared by every chunk quoting it;
`sentence_refs` records which chunk quotes which sentence, so a sentence's vector is deleted in
the same transaction as the last chunk quoting it).
Readers proceed while the one writer commits; every write is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, RowMapping

from kb.errors import StoreError
from kb.index.catalog_db import SNAPSHOT, WRITE, create_tables, describe, make_catalog_engine, reachable
from kb.types import Chunk, Document, stable_hash

# state key: set once every chunk's sentences are recorded in sentence_refs (catalogs written
# before the table existed get them from KnowledgeBase on the next write)
SENTENCE_REFS_STATE = "sentence_refs"

_CHUNK_COLS = "chunk_id, doc_id, ord, text, section, span_start, span_end, meta"
_SET_STATE = text("INSERT INTO state(key, value) VALUES (:key, :value) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
_INIT_STATE = text("INSERT INTO state(key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING")
_ORPHAN = "NOT EXISTS (SELECT 1 FROM sentence_refs r WHERE r.text_hash = sentence_vectors.text_hash)"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _in(sql: str, name: str = "ids"):
    """A statement with an `IN :name` list parameter."""
    return text(sql).bindparams(bindparam(name, expanding=True))


def _row_to_chunk(row: RowMapping) -> Chunk:
    span = (row["span_start"], row["span_end"]) if row["span_start"] is not None else None
    return Chunk(
        chunk_id=row["chunk_id"],
        doc_id=row["doc_id"],
        text=row["text"],
        section=row["section"],
        span=span,
        meta=json.loads(row["meta"]),
    )


def _row_to_document(row: RowMapping) -> Document:
    return Document(
        doc_id=row["doc_id"],
        title=row["title"],
        kind=row["kind"],
        source=row["source"],
        text=row["text"],
        meta=json.loads(row["meta"]),
    )


class Catalog:
    """Thread-safe: reads take a pooled connection each; writes are one transaction at a time
    (`transaction`), and only one process writes (kb.index.locking)."""

    def __init__(self, location: Path | str) -> None:
        """`location`: the path of a SQLite file, or the PostgreSQL URL of a shared catalog."""
        self.engine = make_catalog_engine(location)
        self.backend = self.engine.url.get_backend_name()
        self.path = Path(location) if self.backend == "sqlite" else None
        create_tables(self.engine)
        self._write_lock = threading.RLock()
        # SQLite: the state (the snapshot id, read several times by every search) from a connection
        # kept open for it, as cheap as the catalog was before SQLAlchemy (3 µs, not 50)
        self._state_conn = self.engine.raw_connection() if self.backend == "sqlite" else None
        self._state_lock = threading.Lock()
        # called with the new snapshot id after each committed write that changes it
        self.on_commit: list[Callable[[str], None]] = []

    def close(self) -> None:
        if self._state_conn is not None:
            self._state_conn.close()
            self._state_conn = None
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Catalog({describe(self.engine)})"

    # -- low level ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self, snapshot: bool = True) -> Iterator[Connection]:
        """One write transaction; the snapshot id changes when it commits (unless `snapshot` is
        False: for writes that change no document or chunk, such as sentence vectors)."""
        new = uuid.uuid4().hex[:16]
        with self._write_lock, reachable(self.engine):
            with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
                yield conn
                if snapshot:
                    conn.execute(_SET_STATE, {"key": "snapshot_id", "value": new})
        if snapshot:
            for hook in list(self.on_commit):
                hook(new)

    def _query(self, sql, params: dict[str, Any] | None = None) -> list[RowMapping]:
        with reachable(self.engine), self.engine.connect() as conn:
            return list(conn.execute(text(sql) if isinstance(sql, str) else sql, params or {}).mappings())

    def _fetch(self, sql: str, params: list[Any]) -> list[tuple]:
        """The reads on every search's path (state, chunks by id, sentence vectors), handed to the
        driver as they are: SQLAlchemy's statement handling cost ten times the query itself on a
        list of 130 chunk ids. `sql` uses `?` placeholders, `IN (?*)` for a list (the last param)."""
        if "?*" in sql:
            *params, values = params
            params = [*params, *values]
            sql = sql.replace("?*", ",".join("?" * len(values)))
        if self.backend != "sqlite":  # psycopg's placeholder
            sql = sql.replace("?", "%s")
        with reachable(self.engine), self.engine.connect() as conn:
            return conn.exec_driver_sql(sql, tuple(params)).fetchall()

    # -- state -----------------------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        if self._state_conn is not None:
            try:
                with self._state_lock:
                    cursor = self._state_conn.driver_connection.execute("SELECT value FROM state WHERE key = ?", (key,))
                    row = cursor.fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"the catalog database ({describe(self.engine)}) failed: {exc}") from exc
            return row[0] if row else None
        rows = self._fetch("SELECT value FROM state WHERE key = ?", [key])
        return rows[0][0] if rows else None

    def set_state(self, values: dict[str, str]) -> None:
        with self.transaction() as conn:
            conn.execute(_SET_STATE, [{"key": k, "value": v} for k, v in values.items()])

    def init_state(self, values: dict[str, str]) -> dict[str, str]:
        """Set the keys that have no value yet (atomically: of two processes starting at once,
        the first wins); the values now stored for these keys."""
        with self.transaction(snapshot=False) as conn:
            conn.execute(_INIT_STATE, [{"key": k, "value": v} for k, v in values.items()])
            rows = conn.execute(_in("SELECT key, value FROM state WHERE key IN :ids"), {"ids": list(values)})
            return {r[0]: r[1] for r in rows}

    @property
    def snapshot_id(self) -> str:
        return self.get_state("snapshot_id") or "empty"

    # -- sentence vectors ------------------------------------------------------------------

    def sentence_vectors(self, embedder: str, texts: list[str]) -> dict[str, np.ndarray]:
        """The stored vector of each text that has one (for this embedder)."""
        by_hash = {stable_hash(t, length=32): t for t in texts}
        out: dict[str, np.ndarray] = {}
        keys = list(by_hash)
        sql = "SELECT text_hash, vector FROM sentence_vectors WHERE embedder = ? AND text_hash IN (?*)"
        for i in range(0, len(keys), 500):
            for text_hash, vector in self._fetch(sql, [embedder, keys[i : i + 500]]):
                out[by_hash[text_hash]] = np.frombuffer(bytes(vector), dtype=np.float32)
        return out

    @staticmethod
    def add_sentence_vectors(conn: Connection, embedder: str, vectors: dict[str, np.ndarray]) -> None:
        if not vectors:
            return
        conn.execute(
            text(
                "INSERT INTO sentence_vectors(embedder, text_hash, vector) VALUES (:embedder, :text_hash, :vector)"
                " ON CONFLICT (embedder, text_hash) DO UPDATE SET vector = excluded.vector"
            ),
            [
                {"embedder": embedder, "text_hash": stable_hash(t, length=32),
                 "vector": np.asarray(v, dtype=np.float32).tobytes()}
                for t, v in vectors.items()
            ],
        )

    @staticmethod
    def add_sentence_refs(conn: Connection, refs: dict[str, list[str]]) -> None:
        """Record that each chunk quotes these sentences (chunk id → sentence texts)."""
        rows = [{"chunk_id": cid, "text_hash": stable_hash(t, length=32)} for cid, texts in refs.items() for t in texts]
        if rows:
            conn.execute(
                text("INSERT INTO sentence_refs(chunk_id, text_hash) VALUES (:chunk_id, :text_hash) ON CONFLICT DO NOTHING"),
                rows,
            )

    @staticmethod
    def _release_sentences(conn: Connection, doc_id: str) -> list[str]:
        """Forget which sentences the document's chunks quote; the hashes they quoted."""
        sub = "SELECT chunk_id FROM chunks WHERE doc_id = :doc_id"
        hashes = [
            r[0]
            for r in conn.execute(
                text(f"SELECT DISTINCT text_hash FROM sentence_refs WHERE chunk_id IN ({sub})"), {"doc_id": doc_id}
            )
        ]
        conn.execute(text(f"DELETE FROM sentence_refs WHERE chunk_id IN ({sub})"), {"doc_id": doc_id})
        return hashes

    @staticmethod
    def prune_sentence_vectors(conn: Connection, hashes: list[str] | None = None) -> int:
        """Delete the vectors of sentences no chunk quotes any more (of `hashes`, or all)."""
        if hashes is None:
            return conn.execute(text(f"DELETE FROM sentence_vectors WHERE {_ORPHAN}")).rowcount
        n = 0
        sql = _in(f"DELETE FROM sentence_vectors WHERE text_hash IN :ids AND {_ORPHAN}")
        for i in range(0, len(hashes), 500):
            n += conn.execute(sql, {"ids": hashes[i : i + 500]}).rowcount
        return n

    def record_sentence_refs(self, refs: dict[str, list[str]]) -> int:
        """Once per catalog written before `sentence_refs` existed: record which chunk quotes which
        sentence (every chunk's, `refs`) and delete the vectors no chunk quotes; how many."""
        with self.transaction(snapshot=False) as conn:
            self.add_sentence_refs(conn, refs)
            pruned = self.prune_sentence_vectors(conn)
            conn.execute(_SET_STATE, {"key": SENTENCE_REFS_STATE, "value": "1"})
        return pruned

    @staticmethod
    def keep_sentence_vectors_of(conn: Connection, embedder: str) -> int:
        """After a reindex: drop the sentence vectors of every other embedder."""
        return conn.execute(text("DELETE FROM sentence_vectors WHERE embedder != :e"), {"e": embedder}).rowcount

    # -- writes ----------------------------------------------------------------------------

    def replace_document(
        self,
        conn: Connection,
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
        conn.execute(text("DELETE FROM chunks WHERE doc_id = :doc_id"), {"doc_id": doc.doc_id})
        cols = ["title", "kind", "source", "source_key", "text", "meta", "content_hash", "pipeline_version",
                "fingerprint", "updated_at"]
        conn.execute(
            text(
                f"INSERT INTO documents(doc_id, {', '.join(cols)}) VALUES (:doc_id, {', '.join(':' + c for c in cols)})"
                f" ON CONFLICT (doc_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in cols)}"
            ),
            {
                "doc_id": doc.doc_id,
                "title": doc.title,
                "kind": doc.kind,
                "source": doc.source,
                "source_key": str(meta.get("source_key") or doc.source),
                "text": doc.text,
                "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True),
                "content_hash": meta.get("content_hash"),
                "pipeline_version": None if meta.get("pipeline_version") is None else str(meta.get("pipeline_version")),
                "fingerprint": fingerprint,
                "updated_at": _now(),
            },
        )
        rows = [
            {
                "chunk_id": c.chunk_id,
                "doc_id": doc.doc_id,
                "ord": int(c.meta.get("ord", i)),
                "text": c.text,
                "section": c.section or "",
                "span_start": c.span[0] if c.span else None,
                "span_end": c.span[1] if c.span else None,
                "meta": json.dumps(c.meta, ensure_ascii=False, sort_keys=True),
                "tokens": tok,
            }
            for i, (c, tok) in enumerate(zip(chunks, tokens, strict=True))
        ]
        if rows:
            names = list(rows[0])
            conn.execute(
                text(f"INSERT INTO chunks({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"), rows
            )
        if sentences is not None:
            self.add_sentence_refs(conn, {c.chunk_id: s for c, s in zip(chunks, sentences, strict=True)})
        self.prune_sentence_vectors(conn, released)

    def delete_document(self, conn: Connection, doc_id: str) -> list[str]:
        params = {"doc_id": doc_id}
        ids = [r[0] for r in conn.execute(text("SELECT chunk_id FROM chunks WHERE doc_id = :doc_id"), params)]
        released = self._release_sentences(conn, doc_id)
        conn.execute(text("DELETE FROM chunks WHERE doc_id = :doc_id"), params)
        conn.execute(text("DELETE FROM documents WHERE doc_id = :doc_id"), params)
        self.prune_sentence_vectors(conn, released)
        return ids

    # -- reads -----------------------------------------------------------------------------

    def get_document(self, doc_id: str) -> Document | None:
        rows = self._query("SELECT * FROM documents WHERE doc_id = :doc_id", {"doc_id": doc_id})
        return _row_to_document(rows[0]) if rows else None

    def fingerprint(self, doc_id: str) -> str | None:
        rows = self._query("SELECT fingerprint FROM documents WHERE doc_id = :doc_id", {"doc_id": doc_id})
        return rows[0]["fingerprint"] if rows else None

    def source_state(self, source_key: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT doc_id, content_hash, pipeline_version FROM documents WHERE source_key = :key OR doc_id = :key"
            " ORDER BY (source_key = :key) DESC LIMIT 1",
            {"key": source_key},
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
            d["chunk_count"] = int(d["chunk_count"])
            out.append(d)
        return out

    def chunk_ids_of(self, doc_id: str) -> list[str]:
        rows = self._query("SELECT chunk_id FROM chunks WHERE doc_id = :doc_id ORDER BY ord", {"doc_id": doc_id})
        return [r["chunk_id"] for r in rows]

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        rows = self._query(
            f"SELECT {_CHUNK_COLS} FROM chunks WHERE doc_id = :doc_id ORDER BY ord, chunk_id", {"doc_id": doc_id}
        )
        return [_row_to_chunk(r) for r in rows]

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        ids = list(dict.fromkeys(chunk_ids))
        sql = f"SELECT {_CHUNK_COLS} FROM chunks WHERE chunk_id IN (?*)"
        for i in range(0, len(ids), 500):
            for r in self._fetch(sql, [ids[i : i + 500]]):
                out[r[0]] = _row_to_chunk(r._mapping)
        return out

    @contextmanager
    def lexical_rows(self, batch: int = 4096) -> Iterator[tuple[str, Iterator[tuple[str, str, str]]]]:
        """(snapshot id, rows (chunk_id, doc_id, space-joined tokens)) read consistently in one
        transaction, a batch at a time: the rows of a large catalog are never all in memory."""
        # SQLite: in insertion order, as always; PostgreSQL: an order every reader shares
        order = "rowid" if self.backend == "sqlite" else "doc_id, ord, chunk_id"
        options: dict[str, Any] = {"stream_results": True, "yield_per": batch, SNAPSHOT: True}
        if self.backend == "postgresql":  # the snapshot id and the rows from one snapshot
            options["isolation_level"] = "REPEATABLE READ"
        with reachable(self.engine), self.engine.connect().execution_options(**options) as conn, conn.begin():
            snap = conn.execute(text("SELECT value FROM state WHERE key = 'snapshot_id'")).scalar() or "empty"
            result = conn.execute(text(f"SELECT chunk_id, doc_id, tokens FROM chunks ORDER BY {order}"))

            def rows() -> Iterator[tuple[str, str, str]]:
                for part in result.partitions():
                    for r in part:
                        yield r[0], r[1], r[2]

            yield snap, rows()

    def iter_chunks(self, batch: int = 256) -> Iterator[list[Chunk]]:
        last = ""
        while True:
            rows = self._query(
                f"SELECT {_CHUNK_COLS} FROM chunks WHERE chunk_id > :last ORDER BY chunk_id LIMIT :n",
                {"last": last, "n": batch},
            )
            if not rows:
                return
            yield [_row_to_chunk(r) for r in rows]
            last = rows[-1]["chunk_id"]

    def counts(self) -> dict[str, int]:
        rows = self._query("SELECT (SELECT COUNT(*) FROM documents) AS documents, (SELECT COUNT(*) FROM chunks) AS chunks")
        return {"documents": int(rows[0]["documents"]), "chunks": int(rows[0]["chunks"])}


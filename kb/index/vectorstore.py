"""The vector store: one entry per chunk, plus one per FAQ key question, keyed by chunk id.

`ChunkStore` is the protocol; `ChromaStore` implements it on an embedded Chroma
(`PersistentClient` under data_dir/chroma) or a Chroma server (`HttpClient`, Settings.chroma_url).
Entry metadata holds the chunk id, so a query returns chunk ids with the best similarity over
each chunk's entries.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse

import numpy as np

from kb.errors import ConfigError, ServiceUnavailableError, StoreError
from kb.types import stable_hash


@dataclass
class VectorEntry:
    entry_id: str  # the chunk id for the chunk's own text, "<chunk id>#k<i>" for its FAQ keys
    chunk_id: str
    vector: np.ndarray


@runtime_checkable
class ChunkStore(Protocol):
    name: str

    def has(self, chunk_ids: list[str]) -> set[str]: ...

    def add(self, entries: list[VectorEntry]) -> None: ...

    def delete(self, chunk_ids: list[str]) -> None: ...

    def delete_entries(self, entry_ids: list[str]) -> None: ...

    def query_entries(self, vector: np.ndarray, n: int) -> list[tuple[str, str, float]]: ...

    def vectors(self, entry_ids: list[str]) -> dict[str, np.ndarray]: ...

    def count(self) -> int: ...


def collection_name(embedder_name: str, generation: str = "") -> str:
    """A Chroma collection name (3–512 chars of [a-zA-Z0-9._-], alphanumeric at both ends)."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", embedder_name).strip("-._") or "model"
    if len(slug) > 200:
        slug = slug[:180] + "-" + stable_hash(embedder_name, length=8)
    name = f"citedesk-{slug}" + (f"-{generation}" if generation else "")
    return name


def make_client(data_dir: Path, chroma_url: str | None = None):
    """The Chroma client for a data directory (embedded) or a server URL."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        url = urlparse(chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"CITEDESK_CHROMA_URL must look like http://host:port, got {chroma_url!r}")
        try:
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 80),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:
            raise ServiceUnavailableError(f"cannot reach the Chroma server at {chroma_url}: {exc}") from exc
        return client
    path = Path(data_dir) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


# How many graph neighbours a search explores (Chroma's default is 100, and never fewer than the
# entries asked for). A search asks for 2n + 8 entries, about 130; with a breadth that small the
# graph search returns an approximate top list, and which entries it misses depends on the graph,
# which each process builds anew from the log. The candidates, and the fused scores that are
# relative to them (kb.search.fusion.fusion_features), then differed from run to run. With 1,000 the
# top list is the exact one on the knowledge bases measured (docs/benchmarks.md), so a question
# gets the same candidates in every process.
SEARCH_EF = 1000


@contextmanager
def _reachable(name: str) -> Iterator[None]:
    """A Chroma server that cannot be reached: ServiceUnavailableError (HTTP 503, try again)."""
    import httpx

    try:
        yield
    except (httpx.TransportError, ConnectionError) as exc:
        raise ServiceUnavailableError(f"the Chroma server (collection {name!r}) is unreachable: {exc}") from exc


class ChromaStore:
    """A Chroma collection in cosine space."""

    def __init__(self, client, name: str) -> None:
        self.client = client
        self.name = name
        try:
            with _reachable(name):
                self._col = client.get_or_create_collection(
                    name=name, configuration={"hnsw": {"space": "cosine", "ef_search": SEARCH_EF}}
                )
                hnsw = (getattr(self._col, "configuration_json", None) or {}).get("hnsw") or {}
                if hnsw.get("ef_search", SEARCH_EF) < SEARCH_EF:  # a collection made before the setting
                    self._col.modify(configuration={"hnsw": {"ef_search": SEARCH_EF}})
        except ServiceUnavailableError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot open the vector collection {name!r}: {exc}") from exc
        self._lock = threading.RLock()

    def has(self, chunk_ids: list[str]) -> set[str]:
        found: set[str] = set()
        ids = list(dict.fromkeys(chunk_ids))
        with _reachable(self.name):
            for i in range(0, len(ids), 1000):
                got = self._col.get(ids=ids[i : i + 1000], include=[])
                found.update(got["ids"])
        return found

    def add(self, entries: list[VectorEntry]) -> None:
        if not entries:
            return
        batch = 2000
        with self._lock, _reachable(self.name):
            for i in range(0, len(entries), batch):
                part = entries[i : i + batch]
                self._col.upsert(
                    ids=[e.entry_id for e in part],
                    embeddings=np.vstack([np.asarray(e.vector, dtype=np.float32) for e in part]),
                    metadatas=[{"chunk_id": e.chunk_id} for e in part],
                )

    def delete(self, chunk_ids: list[str]) -> None:
        ids = list(dict.fromkeys(chunk_ids))
        with self._lock, _reachable(self.name):
            for i in range(0, len(ids), 500):
                self._col.delete(where={"chunk_id": {"$in": ids[i : i + 500]}})

    def delete_entries(self, entry_ids: list[str]) -> None:
        with self._lock, _reachable(self.name):
            for i in range(0, len(entry_ids), 1000):
                self._col.delete(ids=entry_ids[i : i + 1000])

    def query_entries(self, vector: np.ndarray, n: int) -> list[tuple[str, str, float]]:
        """The n entries nearest to `vector` as (entry id, chunk id, cosine similarity), best first.
        A chunk's own text has the chunk id as its entry id; its question keys "<chunk id>#k<i>"
        (Chroma returns fewer when the collection is smaller)."""
        if n <= 0:
            return []
        with _reachable(self.name):
            res = self._col.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=n,
                include=["metadatas", "distances"],
            )
        return [
            (eid, meta["chunk_id"], 1.0 - float(dist))
            for eid, meta, dist in zip(res["ids"][0], res["metadatas"][0], res["distances"][0], strict=True)
        ]

    def vectors(self, entry_ids: list[str]) -> dict[str, np.ndarray]:
        """The stored vector of each entry id present (a chunk id, or "<chunk id>#k<i>")."""
        out: dict[str, np.ndarray] = {}
        ids = list(dict.fromkeys(entry_ids))
        with _reachable(self.name):
            for i in range(0, len(ids), 1000):
                got = self._col.get(ids=ids[i : i + 1000], include=["embeddings"])
                for cid, emb in zip(got["ids"], got["embeddings"], strict=True):
                    out[cid] = np.asarray(emb, dtype=np.float32)
        return out

    def page(self, offset: int, limit: int) -> list[VectorEntry]:
        """Up to `limit` entries from `offset`, in the collection's order (to copy a collection)."""
        with _reachable(self.name):
            got = self._col.get(offset=offset, limit=limit, include=["embeddings", "metadatas"])
        return [
            VectorEntry(eid, meta["chunk_id"], np.asarray(vec, dtype=np.float32))
            for eid, vec, meta in zip(got["ids"], got["embeddings"], got["metadatas"], strict=True)
        ]

    def count(self) -> int:
        with _reachable(self.name):
            return int(self._col.count())

    def drop(self) -> None:
        try:
            self.client.delete_collection(self.name)
        except Exception as exc:
            raise StoreError(f"cannot drop the vector collection {self.name!r}: {exc}") from exc

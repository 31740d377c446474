"""Moving an embedded knowledge base into a shared deployment: the catalog's rows (documents,
chunks and their tokens, answer-sentence vectors, state) into the shared catalog on PostgreSQL,
and every vector of the active collection into the Chroma server under the same collection name.
Nothing is embedded again, so a knowledge base built in hours moves in minutes.

The target must be empty; the catalog rows are written in one transaction, after the vectors (as
every write is: a reader sees nothing until the catalog commits).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, insert, select

from kb.errors import StoreError
from kb.index.catalog import Catalog
from kb.index.catalog_db import metadata
from kb.index.vectorstore import ChromaStore

BATCH = 1000


def copy_knowledge_base(
    source: Catalog, source_client, target: Catalog, target_client, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Copy `source` (catalog and its Chroma client) into the empty `target`; the counts copied."""
    name = source.get_state("collection")
    if name is None:
        raise StoreError(f"{source} holds no knowledge base to copy")
    if target.counts()["documents"] or target.get_state("collection"):
        raise StoreError(f"{target} already holds a knowledge base; copy only into an empty one")
    vectors = _copy_vectors(ChromaStore(source_client, name), ChromaStore(target_client, name), progress)
    rows: dict[str, int] = {}
    with source.engine.connect() as src, target.transaction(snapshot=False) as dst:
        for table in metadata.sorted_tables:  # documents before the chunks that refer to them
            rows[table.name] = 0
            result = src.execution_options(stream_results=True, yield_per=BATCH).execute(select(table))
            for part in result.mappings().partitions():
                dst.execute(insert(table), [dict(r) for r in part])
                rows[table.name] += len(part)
            progress(f"{table.name}: {rows[table.name]} rows")
        copied = dst.execute(select(func.count()).select_from(metadata.tables["chunks"])).scalar()
    return {"collection": name, "vectors": vectors, "rows": rows, "chunks": int(copied)}


def _copy_vectors(source: ChromaStore, target: ChromaStore, progress: Callable[[str], None]) -> int:
    total, offset = source.count(), 0
    while offset < total:
        entries = source.page(offset, BATCH)
        if not entries:
            break
        target.add(entries)
        offset += len(entries)
        progress(f"vectors: {offset}/{total}")
    return offset

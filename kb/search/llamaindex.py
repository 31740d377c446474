"""The knowledge base as a llama-index retriever, for a company's own llama-index application.

    from kb.knowledge import KnowledgeBase
    from kb.search.llamaindex import CiteDeskRetriever
    from kb.settings import Settings

    kb = KnowledgeBase.open(Settings(data_dir="data"))
    retriever = CiteDeskRetriever(kb, k=5, kind="regulation")
    for node in retriever.retrieve("提前还款要手续费吗"):
        print(node.score, node.metadata["title"], node.metadata["section"], node.node_id)

Every search goes through the knowledge base's own hybrid retrieval (dense + BM25, calibrated
fusion, re-ranking, filters), so the nodes are exactly the Hits `kb.search` returns, in the same
order: one `NodeWithScore` per Hit, the node's id is the chunk id, its score the calibrated
probability in [0, 1], and its metadata what a citation needs (document id, title, section,
source, version, page …) plus the retrieval signals. The node's source relationship names the
document, so `node.node.ref_doc_id` is the document id.

The retriever needs only an object with `search(query, k, filters)` returning Hits (the
KnowledgeBase); it does not open or close it.
"""

from __future__ import annotations

from typing import Any, Protocol

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from kb.types import Hit, SearchFilters

# chunk metadata a citation needs (kb.types.Chunk.meta), in this order when present
CITATION_KEYS = ("title", "kind", "source", "version", "page", "product", "effective_date", "expiry_date", "case_id")
# shown to an LLM beside the text; the rest (ids, signals) stays out of its prompt and embeddings
LLM_KEYS = ("title", "section", "source", "version", "page")


class Searchable(Protocol):
    def search(self, query: str, k: int | None = None, filters: SearchFilters | None = None) -> list[Hit]: ...


def hit_to_node(hit: Hit) -> NodeWithScore:
    """One Hit as a llama-index node with its citation metadata."""
    chunk = hit.chunk
    meta: dict[str, Any] = {"chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "section": chunk.section}
    meta.update({key: chunk.meta[key] for key in CITATION_KEYS if chunk.meta.get(key) not in (None, "")})
    if chunk.meta.get("tags"):
        meta["tags"] = list(chunk.meta["tags"])
    meta["signals"] = {name: float(value) for name, value in hit.signals.items()}
    node = TextNode(
        id_=chunk.chunk_id,
        text=chunk.text,
        metadata=meta,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.doc_id)},
        excluded_llm_metadata_keys=[key for key in meta if key not in LLM_KEYS],
        excluded_embed_metadata_keys=list(meta),
    )
    return NodeWithScore(node=node, score=float(hit.score))


class CiteDeskRetriever(BaseRetriever):
    """`retrieve(question)` → the knowledge base's best `k` chunks as NodeWithScore, best first.
    `kind`, `product`, `tags` and `include_inactive` filter as in `kb.search` (kb.types.SearchFilters)."""

    def __init__(
        self,
        kb: Searchable,
        k: int = 5,
        *,
        kind: str | list[str] | None = None,
        product: str | None = None,
        tags: list[str] | None = None,
        include_inactive: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._kb = kb
        self._k = k
        self._filters = SearchFilters(kind=kind, product=product, tags=tags, include_inactive=include_inactive)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self._kb.search(query_bundle.query_str, k=self._k, filters=self._filters)
        return [hit_to_node(h) for h in hits]

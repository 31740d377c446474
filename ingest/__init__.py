"""Ingestion: files → Documents → Chunks → the knowledge base.

Public entry points: ``ingest_paths`` and ``ingest_bytes`` (``ingest.pipeline``), ``load_file``
(``ingest.loaders``), ``clean_text`` (``ingest.clean``), ``chunk_blocks`` (``ingest.chunking``) and
``build_document`` (``ingest.document``).
"""

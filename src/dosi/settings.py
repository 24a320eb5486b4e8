"""Settings: one object, validated at start-up (env prefix ``DOSI_``)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the hub can be told. Built once in ``create_app`` / the CLI."""

    model_config = SettingsConfigDict(env_prefix="DOSI_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 1026
    store_url: str = Field(default="sqlite:///dosi.db", description="sqlite:///path or postgresql://...")
    max_body_bytes: int = Field(default=2 * 1024 * 1024, description="larger request bodies get 413")
    default_limit: int = 20
    max_limit: int = 1000
    context_fetch_timeout: float = Field(default=5.0, description="seconds to fetch a remote @context")
    context_cache_ttl: float = Field(default=3600.0, description="seconds a fetched @context is kept")
    contexts_dir: str | None = Field(
        default=None, description="folder of preloaded @context files (offline sites)"
    )
    max_batch_size: int = 10_000
    load_sample: bool = False
    workers: int = 1
    log_level: str = "info"

    @field_validator("store_url")
    @classmethod
    def _known_store(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ValueError(
                f"unsupported store URL {url!r}: use sqlite:///path.db or postgresql://..."
            )
        return url

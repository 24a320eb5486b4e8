"""Settings: one object, validated at start-up (env prefix ``DOSI_``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Retention(BaseModel):
    """Keep history for ``keep`` (ISO 8601 duration), for one tenant, one entity type
    (expanded IRI), both, or neither (the default rule). The most specific rule wins."""

    keep: str
    tenant: str | None = None
    type: str | None = None

    @field_validator("keep")
    @classmethod
    def _duration(cls, value: str) -> str:
        from dosi.errors import DosiError
        from dosi.ngsild.temporal import parse_duration

        try:
            parse_duration(value)
        except DosiError as exc:
            raise ValueError(exc.detail) from None
        return value


class PrivacyDeclaration(BaseModel):
    """Privacy by design for one entity type (expanded IRIs): attributes pseudonymised
    at write (keyed HMAC; the raw value is never stored), and for roles without
    clearance locations snapped to a grid of ``location_grid`` degrees and observedAt
    truncated to the ``hour`` or ``day`` (docs/security.md)."""

    type: str
    pseudonymise: list[str] = []
    location_grid: float | None = None
    time_precision: str | None = None
    geo_attributes: list[str] = ["https://uri.etsi.org/ngsi-ld/location"]
    clearance: list[str] = ["system-admin", "data-admin"]
    keep: str | None = None  # ISO 8601 duration: history of the type kept no longer

    @field_validator("keep")
    @classmethod
    def _keep(cls, value: str | None) -> str | None:
        return None if value is None else Retention._duration(value)

    @field_validator("time_precision")
    @classmethod
    def _precision(cls, value: str | None) -> str | None:
        if value not in (None, "hour", "day"):
            raise ValueError("time_precision is hour or day")
        return value


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
    history: bool = Field(default=True, description="keep the history of attributes")
    history_off_tenants: list[str] = Field(default=[], description="tenants without history")
    history_off_types: list[str] = Field(
        default=[], description="entity types (expanded IRIs) without history")
    history_delete_with_entity: bool = Field(
        default=True, description="deleting an entity deletes its history")
    history_retention: list[Retention] = Field(
        default=[], description='e.g. [{"keep": "P2Y"}, {"type": "https://...#Vehicle", '
        '"keep": "P30D"}] (JSON in DOSI_HISTORY_RETENTION)')
    retention_interval: float = Field(default=3600.0, description="seconds between runs")
    history_upkeep_interval: float = Field(
        default=300.0, description="seconds between history rollup runs")
    retention_batch: int = Field(default=10_000, description="rows per retention DELETE")
    # Small by default: one answer holds up to `limit` entities (max_limit) times this many
    # instances, and a client reads on with the Content-Range of the 206; bulk readers use
    # aggregatedValues or `dosi export`. Deployments with few, long series raise it.
    temporal_max_instances: int = Field(
        default=30, description="instances per entity in one temporal answer (then 206)")
    ingest_adapters: list[str] = Field(
        default=[], description='adapters to run in the hub, e.g. ["mqtt", "airkorea"] '
        "(each reads its own DOSI_<NAME>_* settings; docs/ingest.md)")
    ingest_max_record_bytes: int = Field(
        default=256 * 1024, description="larger ingested records go to the dead-letter store")
    notify: bool = Field(default=True, description="deliver subscription notifications")
    notify_mode: str = Field(
        default="inline", description="inline: deliver in the API process; process: in a "
        "worker process of its own (dosi serve), sparing the API's core")
    notify_poll_interval: float = Field(
        default=0.5, description="seconds between outbox polls (other processes' writes)")
    notify_timeout: float = Field(default=10.0, description="seconds a receiver may take")
    notify_concurrency: int = Field(default=64, description="subscriptions delivered at once")
    notify_retry_base: float = Field(default=1.0, description="first retry delay (seconds)")
    notify_retry_max: float = Field(default=300.0, description="longest retry delay (seconds)")
    notify_claim_interval: float = Field(
        default=0.05, description="seconds between two looks at the outbox when busy "
        "(fewer write transactions beside the API's)")
    notify_linger: float = Field(
        default=0.05, description="while changes queue up for a subscription, seconds "
        "between two of its notifications (the changes in between go in one)")
    notify_max_age: float = Field(
        default=7 * 86400.0, description="seconds an undelivered notification is kept")
    auth: bool = Field(
        default=True, description="require a bearer token or API key (docs/security.md); "
        "callers without credentials get what rules grant the public role")
    auth_issuer: str = Field(
        default="urn:dosi:hub", description="iss of the tokens the hub issues itself")
    auth_audience: str = Field(default="dosi", description="aud every token must carry")
    auth_token_ttl: int = Field(default=3600, description="seconds an issued token lives")
    auth_clock_skew: float = Field(
        default=30.0, description="seconds of clock difference tolerated on exp/nbf/iat")
    auth_external_issuer: str | None = Field(
        default=None, description="iss of an identity server's tokens (e.g. a Keycloak "
        "realm URL), with auth_jwks_url or auth_jwks_file")
    auth_jwks_url: str | None = Field(default=None, description="that issuer's JWKS URL")
    auth_jwks_file: str | None = Field(default=None, description="or its JWKS as a file")
    auth_jwks_refresh: float = Field(
        default=10.0, description="fewest seconds between two JWKS reloads caused by "
        "tokens naming an unknown key id (key rotation)")
    auth_roles_claim: str = Field(
        default="roles", description="token claim with dosi roles (Keycloak's "
        "realm_access.roles and resource_access.<audience>.roles are read too)")
    auth_tenants_claim: str = Field(
        default="tenants", description="token claim with the tenants a caller is confined to")
    auth_cache_ttl: float = Field(
        default=5.0, description="seconds rules and credentials are cached (a revoked key "
        "stops working within this time)")
    audit: bool = Field(default=True, description="keep the audit log (when auth is on)")
    audit_personal_types: list[str] = Field(
        default=[], description="entity types (expanded IRIs) holding personal data: "
        "every read of them is audited")
    audit_reads: bool = Field(default=False, description="audit every entity read")
    privacy: list[PrivacyDeclaration] = Field(
        default=[], description='per entity type, e.g. [{"type": "https://...#Trip", '
        '"pseudonymise": ["https://...#passenger"], "location_grid": 0.01, '
        '"time_precision": "hour"}] (JSON in DOSI_PRIVACY)')
    rate_limit: float = Field(
        default=0.0, description="requests per second per client (0: no limit)")
    rate_burst: float = Field(default=0.0, description="bucket size (0: 2 x rate_limit)")
    q_max_depth: int = Field(default=12, description="deepest nesting of a q expression")
    q_max_terms: int = Field(default=200, description="most comparisons in one q")
    geo_max_vertices: int = Field(default=10_000, description="most vertices of a geoQ")
    temporal_max_days: float | None = Field(
        default=None, description="longest temporal query range without lastN (None: any)")
    workers: int = 1
    log_level: str = "info"

    @field_validator("ingest_adapters")
    @classmethod
    def _known_adapters(cls, names: list[str]) -> list[str]:
        from dosi.ingest.adapters import ADAPTERS

        unknown = [n for n in names if n not in ADAPTERS]
        if unknown:
            raise ValueError(f"unknown ingest adapter(s) {unknown}: known are {sorted(ADAPTERS)}")
        return names

    @field_validator("store_url")
    @classmethod
    def _known_store(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ValueError(
                f"unsupported store URL {url!r}: use sqlite:///path.db or postgresql://..."
            )
        return url

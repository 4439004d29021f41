"""Settings: the only place that reads the environment."""

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

__all__ = ["ConfigurationError", "JwtKey", "OidcProvider", "Settings", "load_settings"]


class ConfigurationError(RuntimeError):
    """A setting PRISM cannot work with. The message is one sentence for the operator: which setting, what is wrong
    and what to do, never a secret it holds."""


class JwtKey(BaseModel):
    """One access-token signing key and its id."""

    kid: str = Field(min_length=1, max_length=64)
    secret: SecretStr = Field(min_length=32)


class OidcProvider(BaseModel):
    """An OpenID Connect provider users may sign in with; its endpoints come from the issuer's discovery document."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="The `{provider}` in `/auth/sso/...` URLs.")
    issuer: str = Field(description="Issuer URL; `/.well-known/openid-configuration` is read under it.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = Field(default=None, description="Unset for a public client (PKCE only).")
    scope: str = Field(default="openid email profile", description="Requested scopes; must include `openid`.")


class Settings(BaseSettings):
    """PRISM's configuration, read from `PRISM_*` variables and a few well-known names."""

    model_config = SettingsConfigDict(env_prefix="PRISM_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path(".prism"), description="Directory for embedded data (database, secrets).")
    environment: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    trusted_proxies: str = Field(
        default="",
        validation_alias=AliasChoices("PRISM_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"),
        description=(
            "Comma-separated addresses or networks (`10.0.0.0/8`) of the proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed, or `*` for any; none by default."
        ),
    )

    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="PostgreSQL URL; when unset an embedded PostgreSQL is started under `home`.",
    )
    database_admin_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_ADMIN_URL",
        description="URL of the role that owns the tables, for migrations; DATABASE_URL when unset.",
    )
    app_role_password: SecretStr | None = Field(
        default=None,
        description="`prism db ensure-app-role`: the password to give the server's login role.",
    )
    user_password: SecretStr | None = Field(
        default=None,
        description="`prism users create`: the new account's password (else `--password-stdin` or a prompt).",
    )
    database_app_role: str = Field(
        default="prism_api",
        description="Embedded mode: the login role (member of the database's group role) the server connects as.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="Redis for revocation, throttling and rate limits shared by every replica; in-process when unset.",
    )
    event_relay_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the relay looks for committed events the broker did not get (a crash, Redis down).",
    )
    event_retention_days: float = Field(
        default=30,
        gt=0,
        description="How long the event log keeps published events (the window `since` can resume from).",
    )
    event_relay_grace_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How old an unpublished event must be before the relay publishes it (the commit path goes first).",
    )
    embedded_worker: bool | None = Field(
        default=None,
        description=(
            "Run a job worker inside the server process (`make run` then does everything); unset: on with the "
            "embedded PostgreSQL, off with DATABASE_URL (run `prism worker`)."
        ),
    )
    worker_concurrency: int = Field(default=4, ge=1, le=100, description="Jobs one worker runs at once.")
    job_max_attempts: int = Field(
        default=6, ge=1, le=50, description="Runs of a failing job before it is a dead letter (the first included)."
    )
    job_retry_base_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Exponential backoff between runs of a failing job: waits of base x 2^attempt seconds.",
    )
    worker_heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="How often a worker tells the database it is alive."
    )
    worker_stalled_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "A worker silent this long is dead: the jobs it was running are run again (keep it well above the "
            "heartbeat)."
        ),
    )
    stalled_job_check_seconds: float = Field(
        default=30.0, gt=0, description="How often a worker looks for jobs of dead workers to run again."
    )
    job_statement_timeout_seconds: float = Field(
        default=300.0, gt=0, description="PostgreSQL cancels any one statement of a job that runs longer."
    )
    sprint_snapshot_cron: str = Field(
        default="5 0 * * *",
        description="When the nightly sprint snapshots are taken (cron, UTC; five fields, or six with seconds).",
    )
    job_failed_retention_days: float = Field(
        default=30, gt=0, description="How long finished jobs are kept; dead letters are kept as long."
    )

    ws_max_subscriptions_per_connection: int = Field(
        default=20, ge=1, le=1000, description="Subscriptions (operations) one WebSocket connection may run at once."
    )
    ws_max_subscriptions_per_identity: int = Field(
        default=100,
        ge=1,
        description="Subscriptions one user or API key may hold at once on one server process, over all connections.",
    )
    presence_ttl_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a presence entry lives without a heartbeat: a vanished client is gone after this.",
    )
    presence_heartbeat_seconds: float = Field(
        default=10.0, gt=0, description="How often a present client renews its entry (well under the TTL)."
    )
    ws_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often the server pings a WebSocket connection to keep it (and proxies) alive.",
    )
    ws_connection_init_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a new WebSocket connection has to send `connection_init` (then 4408)."
    )
    llm_model: str = Field(
        default="prism-offline/offline",
        description=(
            "The LiteLLM model AI features use (`openai/gpt-4o-mini`, `anthropic/...`, `ollama/...`); by default "
            "PRISM's offline provider, which needs no network and says so in every result."
        ),
    )
    llm_api_base: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible server for the models (Ollama, vLLM, llama.cpp, a proxy).",
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="API key sent to that server; providers' own variables (OPENAI_API_KEY) also work."
    )
    llm_feature_models: dict[str, str] = Field(
        default_factory=dict,
        description='Per-feature models overriding PRISM_LLM_MODEL, as JSON: `{"generate_stories": "openai/gpt-4o"}`.',
    )
    llm_fallback_models: list[str] = Field(
        default_factory=list,
        description="Models tried in turn when the feature's model still fails after its retries (JSON list).",
    )
    llm_timeout_seconds: float = Field(default=60.0, gt=0, description="How long one model call may take.")
    llm_max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a model call answered 429, 5xx or a timeout, with backoff."
    )
    llm_retry_base_seconds: float = Field(
        default=1.0, ge=0, description="Backoff before the first retry of a model call; doubled at each retry."
    )
    llm_response_format: Literal["json_schema", "json_object"] = Field(
        default="json_schema",
        description=(
            "How a model call asks for JSON: `json_schema` (OpenAI's structured outputs), or `json_object` with the "
            "schema beside it, for servers that take only that (llama-cpp-python's)."
        ),
    )
    ai_monthly_budget_usd: float = Field(
        default=20.0, ge=0, description="AI spend one organization may run up in a calendar month (UTC), in USD."
    )
    ai_monthly_token_budget: int = Field(
        default=2_000_000,
        ge=0,
        description="Tokens (in and out) one organization may use in a calendar month, whatever the model's price.",
    )
    ai_viewers_may_use_models: bool = Field(
        default=False,
        description=(
            "Let VIEWERs run the AI features that call a model and spend the organization's AI budget "
            "(generateStories, generatePrd, analyzeRequirement, recommendPriorities, planSprint); searches are open "
            "to them either way."
        ),
    )
    ai_cache_ttl_seconds: float = Field(
        default=86400.0,
        ge=0,
        description="How long an AI answer is cached per organization, model, prompt version and input; 0: no cache.",
    )
    ai_duplicate_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "Similarity (cosine) from which creating or retitling a requirement warns LIKELY_DUPLICATE; unset: the "
            "documented threshold of the active embedder (prism.ai.duplicates.DOCUMENTED_POLICIES)."
        ),
    )
    ai_duplicate_coverage: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description=(
            "The duplicate warning's second check: how close (cosine of word vectors) the least-matched word of the "
            "shorter text must come to a word of the other; 0 turns the check off; unset: the active embedder's "
            "documented value."
        ),
    )
    embedder: Literal["offline", "minilm", "mpnet", "auto"] = Field(
        default="offline",
        description=(
            "The local embedder when PRISM_EMBEDDING_MODEL is unset: `offline` (hashed n-grams, nothing to "
            "install), `minilm` (all-MiniLM-L6-v2 from the `[minilm]` extra), `mpnet` (all-mpnet-base-v2 from the "
            "`[mpnet]` extra), each refused when not installed, or `auto` (MiniLM when installed, else offline)."
        ),
    )
    embedding_model: str | None = Field(
        default=None,
        description="A LiteLLM embedding model for retrieval (wins over PRISM_EMBEDDER); unset: PRISM_EMBEDDER's.",
    )
    qdrant_url: str | None = Field(
        default=None,
        validation_alias="QDRANT_URL",
        description="A Qdrant server for retrieval; unset: Qdrant's local mode on disk under `home` (`qdrant/`).",
    )
    qdrant_path: str | None = Field(
        default=None,
        description="Local mode: where Qdrant keeps its files (`:memory:` for none); `home`/qdrant when unset.",
    )
    qdrant_collection: str = Field(default="prism", description="The Qdrant collection PRISM's vectors live in.")
    auto_migrate: bool = Field(default=True, description="Apply pending migrations when the server starts.")
    database_pool_size: int = Field(
        default=20,
        ge=1,
        description=(
            "Connections each server process keeps open to PostgreSQL, opened as needed and kept: size it for the "
            "requests a process works on at once."
        ),
    )
    database_max_overflow: int = Field(
        default=0,
        ge=0,
        description=(
            "Extra connections beyond the pool under load. Each is closed when it comes back, so anything above 0 "
            "opens and closes PostgreSQL sessions under steady load: raise the pool size instead."
        ),
    )
    database_pool_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How long a request waits for a free database connection before answering 503.",
    )
    database_statement_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description=(
            "PostgreSQL cancels any one statement of the server's that runs longer: no request, however crafted, holds "
            "a pooled connection longer than this per statement."
        ),
    )
    database_idle_in_transaction_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "PostgreSQL ends a session left idle inside a transaction this long: a safety net, since every request "
            "ends its transaction before it gives its connection back."
        ),
    )

    secret_key: SecretStr | None = Field(
        default=None, description="Signing key for access tokens; generated and kept under `home` when unset."
    )
    access_token_ttl_seconds: int = Field(
        default=900, ge=1, description="Lifetime of an access token; a refresh token gets the next one."
    )
    jwt_keys: list[JwtKey] | None = Field(
        default=None,
        description=(
            'Access-token keys as JSON `[{"kid": "2026-11", "secret": "..."}]`: the first signs, all verify '
            "(rotation without signing anyone out). Unset: `secret_key` under kid `default`."
        ),
    )
    refresh_token_ttl_seconds: int = Field(default=30 * 86400, ge=60, description="Lifetime of a session.")
    smtp_url: SecretStr | None = Field(
        default=None,
        description="Outgoing mail: `smtp://[user:password@]host:port` (`smtps://` for TLS). Unset: mail is logged.",
    )
    mail_from: str = Field(default="PRISM <no-reply@localhost>", description="The From of PRISM's emails.")
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the web app, for links in emails."
    )
    login_max_failures_per_account: int = Field(
        default=5, ge=1, description="Failed log-ins of one account within the window that lock it."
    )
    login_max_failures_per_ip: int = Field(
        default=20, ge=1, description="Failed log-ins from one IP within the window after which it must wait."
    )
    login_failure_window_seconds: int = Field(
        default=900, ge=1, description="The window failed log-ins are counted in, and how long a lock lasts."
    )
    reauthentication_window_seconds: int = Field(
        default=600,
        ge=1,
        description=(
            "How recent a session's sign-in (or re-authentication) must be to enrol TOTP, create API keys or reset a "
            "member's MFA."
        ),
    )
    sign_up_limit_per_address: str = Field(
        default="3/hour", description="Sign-ups with one email address (each mails that address), `limits` notation."
    )
    sign_up_limit_per_ip: str = Field(default="20/hour", description="Sign-ups from one client address.")
    password_reset_request_limit_per_address: str = Field(
        default="3/hour", description="Password-reset mails asked for one email address."
    )
    password_reset_request_limit_per_ip: str = Field(
        default="20/hour", description="Password-reset mails asked for from one client address."
    )
    password_reset_limit_per_address: str = Field(
        default="5/hour", description="Password resets tried with a token of one account."
    )
    password_reset_limit_per_ip: str = Field(
        default="20/hour", description="Password resets tried (any token, valid or not) from one client address."
    )
    oidc_providers: list[OidcProvider] = Field(
        default_factory=list,
        description=(
            'Single sign-on providers as JSON `[{"name": "google", "issuer": "https://accounts.google.com", '
            '"client_id": "...", "client_secret": "..."}]`; none by default.'
        ),
    )
    sso_redirect_url: str | None = Field(
        default=None,
        description="Where SSO sends the browser after sign-in, tokens in the URL fragment; unset: JSON answer.",
    )
    sso_callback_base_url: str | None = Field(
        default=None,
        description="Public base URL of this API for the SSO callback registered at providers; unset: from request.",
    )

    shutdown_grace_seconds: int = Field(
        default=20, ge=0, description="On SIGTERM, how long in-flight requests may finish before the server stops."
    )

    log_level: str = "INFO"
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="`json` or `console`; unset: JSON in production, readable lines elsewhere."
    )

    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics requires; unset: /metrics is open, and in production not served at all.",
    )

    graphiql: bool | None = Field(
        default=None, description="Serve GraphiQL to browsers at /graphql; unset: on except in production."
    )
    max_query_depth: int = 12
    max_body_bytes: int = 1_000_000
    max_query_aliases: int = Field(default=30, ge=0, description="Most aliased fields one GraphQL document may use.")
    max_query_cost: int = Field(
        default=1_000_000,
        ge=1,
        description="Most an operation may cost, and resolve while it runs (lists multiply by their page or maximum).",
    )
    forecast_threads: int = Field(
        default=2, ge=1, description="Worker threads that may run Monte Carlo forecasts at once in each process."
    )
    query_cost_budget_per_minute: int = Field(
        default=10_000_000, ge=1, description="Query cost each identity (or anonymous IP) may spend per minute."
    )
    rate_limit_enabled: bool = Field(default=True, description="Apply request rate limits and the cost budget.")
    rate_limit_per_identity: str = Field(
        default="1200/minute", description="Requests per signed-in user or API key (`limits` notation)."
    )
    rate_limit_per_ip: str = Field(default="6000/minute", description="Signed-in requests per client address.")
    rate_limit_anonymous_per_ip: str = Field(
        default="1200/minute", description="Requests without valid credentials per client address."
    )
    graphql_introspection: bool | None = Field(
        default=None, description="Answer introspection queries; unset: on except in production."
    )
    graphql_suggestions: bool | None = Field(
        default=None, description='Add "Did you mean ...?" hints to errors; unset: on except in production.'
    )
    max_requests_in_progress_per_caller: int = Field(
        default=8,
        ge=1,
        description=(
            "Requests of one caller (credential, else address) a process works on at once; more wait their turn, "
            "then get RATE_LIMITED. Keep it well under the pool size so one caller cannot take every connection."
        ),
    )
    request_queue_wait_seconds: float = Field(
        default=10.0, gt=0, description="How long a caller's request waits for one of its own to finish."
    )
    persisted_query_ttl_seconds: int = Field(
        default=86_400, ge=1, description="How long an automatic persisted query is kept after it last ran."
    )
    persisted_query_max_bytes: int = Field(
        default=16_384, ge=1, description="Larger query texts run but are not kept as persisted queries."
    )
    persisted_query_registrations_per_hour: int = Field(
        default=100, ge=0, description="New persisted queries one signed-in user or API key may store per hour."
    )
    persisted_query_anonymous_registrations_per_hour: int = Field(
        default=10,
        ge=0,
        description="New persisted queries one address may store per hour without signing in (kept one hour).",
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed to call the API from browsers; `*` for any."
    )
    cors_allow_credentials: bool = Field(default=False, description="Let browsers send cookies cross-origin.")
    hsts_max_age_seconds: int = Field(
        default=63_072_000, ge=0, description="Strict-Transport-Security max-age, sent in production (0: never)."
    )

    s3_endpoint: str | None = Field(
        default=None,
        validation_alias="S3_ENDPOINT",
        description=(
            "S3 (or MinIO, SeaweedFS) for attachments: `https://host[:port]`, `http://` for a local server, or a bare "
            "`host[:port]` (HTTPS unless PRISM_S3_SECURE is off); unset: files are kept under `home`/files."
        ),
    )
    s3_public_endpoint: str | None = Field(
        default=None,
        validation_alias="S3_PUBLIC_ENDPOINT",
        description="The S3 address browsers reach, for presigned download URLs; unset: S3_ENDPOINT.",
    )
    s3_access_key: SecretStr | None = Field(
        default=None, validation_alias="S3_ACCESS_KEY_ID", description="The S3 access key id."
    )
    s3_secret_key: SecretStr | None = Field(
        default=None, validation_alias="S3_SECRET_ACCESS_KEY", description="The S3 secret access key."
    )
    s3_bucket: str = Field(
        default="prism",
        validation_alias="S3_BUCKET",
        description="The bucket attachments go to; created at start-up when missing.",
    )
    s3_secure: bool = Field(
        default=True, description="HTTPS to an S3_ENDPOINT given without a scheme (off only for a local server)."
    )
    s3_region: str | None = Field(
        default=None, validation_alias="S3_REGION", description="The bucket's region (us-east-1 when unset)."
    )
    attachment_max_bytes: int = Field(default=10_000_000, ge=1, description="Largest file one upload may carry.")
    attachment_content_types: str = Field(
        default=(
            "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,text/markdown,text/csv,"
            "application/json,application/zip"
        ),
        description="Comma-separated content types an attachment may have; `*` for any.",
    )
    download_url_ttl_seconds: int = Field(
        default=900, ge=10, le=7 * 86400, description="How long an attachment's downloadUrl works."
    )
    usage_events_max_batch: int = Field(
        default=1000, ge=1, le=2000, description="Most usage events one batch may carry (recordUsageEvents, the API)."
    )
    usage_event_max_properties_bytes: int = Field(
        default=4096, ge=2, le=8192, description="Largest `properties` of one usage event, as compact JSON."
    )
    usage_events_max_body_bytes: int = Field(
        default=2_000_000, ge=1000, description="Largest body POST /api/v1/usage-events accepts."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for entry in _split(value):
            if entry != "*":
                ipaddress.ip_network(entry, strict=False)  # a ValueError names the setting and the entry
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The proxies whose forwarding headers are believed: addresses, networks or `*`; empty for none."""
        return _split(self.trusted_proxies)

    @property
    def attachment_content_type_list(self) -> list[str]:
        """The content types attachments may have (lower case); `["*"]` for any."""
        return [entry.lower() for entry in _split(self.attachment_content_types)]

    @property
    def graphiql_enabled(self) -> bool:
        """Whether browsers get GraphiQL at /graphql (setting, else on outside production)."""
        if self.graphiql is not None:
            return self.graphiql
        return self.environment != "production"

    @property
    def introspection_enabled(self) -> bool:
        """Whether introspection is answered (setting, else on outside production)."""
        if self.graphql_introspection is not None:
            return self.graphql_introspection
        return self.environment != "production"

    @property
    def suggestions_enabled(self) -> bool:
        """Whether errors carry "Did you mean" hints (setting, else on outside production)."""
        if self.graphql_suggestions is not None:
            return self.graphql_suggestions
        return self.environment != "production"

    planner: bool = Field(
        default=True,
        description=(
            "Answer queries whose every field is plannable with the planned executor (one batched statement per "
            "relation level, no per-field resolvers); the others run on the resolvers. docs/architecture.md."
        ),
    )

    perf_baseline: bool = Field(
        default=False,
        description=(
            "For benchmarks only: turns the measured optimisations off (parser and validation caches, gc.freeze, "
            "orjson responses, no pool reset on release) so `python -m bench --baseline` can measure them."
        ),
    )

    @property
    def embedded_worker_enabled(self) -> bool:
        """Whether the server runs a job worker in its own process (setting, else only with embedded PostgreSQL)."""
        if self.embedded_worker is not None:
            return self.embedded_worker
        return self.database_url is None

    @property
    def home_path(self) -> Path:
        """The resolved home directory, created on first use.

        Not cached: a cached value would survive `model_copy(update={"home": ...})` and point at the old home.
        """
        path = self.home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path


def _split(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def load_settings() -> Settings:
    """The settings from the environment; an invalid one is a ConfigurationError naming each variable and what is
    wrong with it, never its value (pydantic's own message quotes the input, which may be a secret)."""
    try:
        return Settings()
    except PydanticValidationError as error:
        problems = [
            " ".join(filter(None, [_variable(str(item["loc"][0])), ".".join(str(part) for part in item["loc"][1:])]))
            + f": {item['msg']}"
            for item in error.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ConfigurationError(f"Invalid settings: {'; '.join(problems)}.") from None
    except SettingsError as error:
        raise ConfigurationError(f"Invalid settings: {error}.") from None


def _variable(name: str) -> str:
    """The environment variable a field (or alias) of Settings is read from."""
    return f"PRISM_{name.upper()}" if name in Settings.model_fields else name

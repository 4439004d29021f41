"""Settings: the only place that reads the environment."""

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """PRISM's configuration, read from `PRISM_*` variables and a few well-known names."""

    model_config = SettingsConfigDict(env_prefix="PRISM_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path(".prism"), description="Directory for embedded data (database, secrets).")
    environment: Literal["development", "production", "test"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000

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
    database_app_role: str = Field(
        default="prism_api",
        description="Embedded mode: the login role (member of prism_app) the server connects as.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="Redis for revocation, throttling and rate limits shared by every replica; in-process when unset.",
    )
    auto_migrate: bool = Field(default=True, description="Apply pending migrations when the server starts.")
    database_pool_size: int = 10
    database_max_overflow: int = 10

    secret_key: SecretStr | None = Field(
        default=None, description="Signing key for access tokens; generated and kept under `home` when unset."
    )
    access_token_ttl_seconds: int = 3600

    shutdown_grace_seconds: int = Field(
        default=20, ge=0, description="On SIGTERM, how long in-flight requests may finish before the server stops."
    )

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    graphiql: bool = True
    max_query_depth: int = 12
    max_body_bytes: int = 1_000_000

    perf_baseline: bool = Field(
        default=False,
        description=(
            "For benchmarks only: turns the measured optimisations off (parser and validation caches, gc.freeze, "
            "orjson responses, no pool reset on release) so `python -m bench --baseline` can measure them."
        ),
    )

    @cached_property
    def home_path(self) -> Path:
        """The resolved home directory, created on first use."""
        path = self.home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

"""What production refuses to start with: each refusal is one sentence naming the setting, never its value.

`prism serve` checks before uvicorn starts (an `Error:` line, no traceback) and the app's lifespan checks again, so a
server started some other way refuses too.
"""

from urllib.parse import unquote, urlsplit

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from prism.auth.weak_secrets import GENERATE_KEY_HINT, PUBLISHED_SECRETS, key_weakness
from prism.config import Settings

__all__ = ["UnsafeProductionSettingsError", "check_production_settings", "production_refusals"]


class UnsafeProductionSettingsError(RuntimeError):
    """Production settings that would leave PRISM open; the message says which and what to do."""


def production_refusals(settings: Settings) -> list[str]:
    """One sentence per reason `settings` must not serve in production; empty outside production."""
    if settings.environment != "production":
        return []
    refusals: list[str] = []
    if settings.database_url is None:
        refusals.append("DATABASE_URL is required in production: the embedded PostgreSQL is for laptops and tests.")
    keys = [("PRISM_SECRET_KEY", settings.secret_key)] if settings.secret_key is not None else []
    keys += [(f"PRISM_JWT_KEYS key {key.kid!r}", key.secret) for key in settings.jwt_keys or []]
    if settings.metrics_token is not None:
        keys.append(("PRISM_METRICS_TOKEN", settings.metrics_token))
    for name, key in keys:
        weakness = key_weakness(key.get_secret_value())
        if weakness is not None:
            refusals.append(f"{name} {weakness}; {GENERATE_KEY_HINT}")
    passwords = [
        ("DATABASE_URL", _database_password(settings.database_url)),
        ("DATABASE_ADMIN_URL", _database_password(settings.database_admin_url)),
        ("PRISM_APP_ROLE_PASSWORD", _reveal(settings.app_role_password)),
        ("PRISM_SMTP_URL", _url_password(_reveal(settings.smtp_url))),
        ("S3_SECRET_ACCESS_KEY", _reveal(settings.s3_secret_key)),
    ]
    passwords += [
        (f"PRISM_OIDC_PROVIDERS {provider.name!r} client_secret", provider.client_secret.get_secret_value())
        for provider in settings.oidc_providers
        if provider.client_secret is not None
    ]
    for name, password in passwords:
        if password is not None and password in PUBLISHED_SECRETS:
            refusals.append(f"{name} uses a password published in PRISM's repository; choose a secret one.")
    return refusals


def check_production_settings(settings: Settings) -> None:
    """Raise UnsafeProductionSettingsError when production must not start with `settings`."""
    refusals = production_refusals(settings)
    if refusals:
        raise UnsafeProductionSettingsError(" ".join(refusals))


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _database_password(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        return make_url(url).password  # type: ignore[return-value]
    except ArgumentError:
        return None  # not a URL at all: the engine says so when it starts


def _url_password(url: str | None) -> str | None:
    password = urlsplit(url).password if url else None
    return unquote(password) if password else None

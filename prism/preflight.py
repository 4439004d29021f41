"""Checks run before PRISM starts work: the port is free, PostgreSQL and Redis answer where the settings say.

A wrong host, port, database name, user, password or scheme would otherwise surface as a driver traceback from the
middle of start-up (after migrations had run, for a taken port). Each check raises `ConfigurationError` with one
sentence naming the setting and the fix. Sentences show hosts, ports, databases and users, never a password.
"""

import asyncio
import errno
import socket
from urllib.parse import urlsplit

import asyncpg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from prism.config import ConfigurationError

__all__ = ["CONNECT_TIMEOUT_SECONDS", "check_database", "check_port", "check_redis", "parse_database_url"]

CONNECT_TIMEOUT_SECONDS = 10.0
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg")
POSTGRES_URL_SHAPE = "postgresql://user:password@host:5432/database"
REDIS_SCHEMES = ("redis", "rediss", "unix")
REDIS_URL_SHAPE = "redis://host:6379/0"


def check_port(host: str, port: int) -> None:
    """Raise ConfigurationError unless the server could listen on `host:port` (bound the way uvicorn binds)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror:
            raise ConfigurationError(
                f"Cannot listen on {host}: it is not an address or host name of this machine (--host or PRISM_HOST)."
            ) from None
        except OSError as error:
            raise ConfigurationError(_bind_sentence(error, host, port)) from None


def _bind_sentence(error: OSError, host: str, port: int) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"Port {port} on {host} is in use (another PRISM, or another server): stop that server, or choose another "
            "port with --port or PRISM_PORT."
        )
    if error.errno == errno.EACCES:
        return f"Not allowed to listen on port {port}: ports below 1024 need privileges; use --port or PRISM_PORT."
    if error.errno == errno.EADDRNOTAVAIL:
        return f"Cannot listen on {host}: it is not an address of this machine (--host or PRISM_HOST)."
    return f"Cannot listen on {host}:{port}: {error.strerror or error}."


def parse_database_url(url: str, setting: str) -> URL:
    """The URL of a PostgreSQL database, or a ConfigurationError saying why `url` is not one."""
    if "://" not in url:
        raise ConfigurationError(f"{setting} is not a URL: write it as {POSTGRES_URL_SHAPE}.")
    scheme = url.split("://", 1)[0]
    if scheme not in POSTGRES_SCHEMES:
        raise ConfigurationError(f"{setting} must be a PostgreSQL URL ({POSTGRES_URL_SHAPE}), not {scheme}://.")
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigurationError(f"{setting} is not a URL PRISM can read: write it as {POSTGRES_URL_SHAPE}.") from None


async def check_database(url: str, setting: str) -> None:
    """Connect once to the database at `url`; raise ConfigurationError with one sentence when that fails."""
    parsed = parse_database_url(url, setting)
    timeout = CONNECT_TIMEOUT_SECONDS
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    try:
        connection = await asyncpg.connect(
            parsed.set(drivername="postgresql").render_as_string(hide_password=False), timeout=timeout
        )
    except asyncpg.InvalidCatalogNameError:
        raise ConfigurationError(
            f'Database "{parsed.database}" does not exist on the PostgreSQL server at {where} ({setting}): create '
            "it, or correct the database name."
        ) from None
    except asyncpg.InvalidAuthorizationSpecificationError as error:
        raise ConfigurationError(
            f'The PostgreSQL server at {where} refused user "{parsed.username}" ({setting}): {error}; correct the '
            "user name or password."
        ) from None
    except asyncpg.PostgresError as error:
        raise ConfigurationError(
            f"The PostgreSQL server at {where} refused the connection ({setting}): {error}."
        ) from None
    except (OSError, asyncpg.InterfaceError) as error:
        refused = "check the host and port, and that PostgreSQL runs there"
        raise ConfigurationError(
            _network_sentence(error, parsed.host, where, setting, "PostgreSQL", refused, timeout)
            or f"Cannot connect to PostgreSQL at {where} ({setting}): {error or type(error).__name__}."
        ) from None
    await connection.close()


async def check_redis(url: str, setting: str = "REDIS_URL") -> None:
    """Ping Redis at `url`; raise ConfigurationError with one sentence when it does not answer."""
    from redis.asyncio import Redis
    from redis.exceptions import AuthenticationError, RedisError

    timeout = CONNECT_TIMEOUT_SECONDS
    parts = urlsplit(url)
    if "://" not in url:
        raise ConfigurationError(f"{setting} is not a URL: write it as {REDIS_URL_SHAPE}.")
    if parts.scheme not in REDIS_SCHEMES:
        raise ConfigurationError(f"{setting} must be a Redis URL ({REDIS_URL_SHAPE}), not {parts.scheme}://.")
    if parts.scheme != "unix":
        try:
            host, port = parts.hostname or "localhost", parts.port or 6379
        except ValueError:
            raise ConfigurationError(f"{setting} is not a URL PRISM can read: write it as {REDIS_URL_SHAPE}.") from None
        where = f"{host}:{port}"
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except OSError as error:
            refused = f"start Redis there, or unset {setting} to keep PRISM's shared state inside one process"
            raise ConfigurationError(
                _network_sentence(error, host, where, setting, "Redis", refused, timeout)
                or f"Cannot connect to Redis at {where} ({setting}): {error}."
            ) from None
        writer.close()
        await writer.wait_closed()
    else:
        where = parts.path
    client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        await client.ping()
    except AuthenticationError as error:
        raise ConfigurationError(
            f"Redis at {where} refused the credentials in {setting}: {error}; correct the user name or password."
        ) from None
    except (RedisError, OSError) as error:
        raise ConfigurationError(f"Redis at {where} refused PRISM ({setting}): {error}.") from None
    finally:
        await client.aclose()


def _network_sentence(
    error: BaseException, host: str | None, where: str, setting: str, service: str, refused: str, timeout: float
) -> str | None:
    """The sentence for a failure to reach `where` at all (`refused`: what to do when nothing listens there), None for
    other errors."""
    if isinstance(error, socket.gaierror):
        return f'The host "{host}" in {setting} cannot be found: correct the host name.'
    if isinstance(error, ConnectionRefusedError):
        return f"Nothing accepts connections at {where} ({setting}): {refused}."
    if isinstance(error, TimeoutError):
        return (
            f"Nothing answered as {service} at {where} within {timeout:g} seconds ({setting}): check the host and "
            "port, and any firewall between."
        )
    return None

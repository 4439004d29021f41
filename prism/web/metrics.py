"""The Prometheus scrape endpoint: behind a bearer token when `PRISM_METRICS_TOKEN` is set, else open (and, in
production, not served at all: see `serves_metrics`)."""

import hmac
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from prism.config import Settings
from prism.observability.metrics import Metrics
from prism.services.authentication import credentials_from_header

__all__ = ["metrics_endpoint", "serves_metrics"]


def serves_metrics(settings: Settings) -> bool:
    """Whether /metrics exists: with a token always; without one only outside production, where it would be open."""
    return settings.metrics_token is not None or settings.environment != "production"


def metrics_endpoint(metrics: Metrics, token: SecretStr | None) -> Callable[[Request], Awaitable[Response]]:
    """The /metrics handler: the registry in Prometheus' text format, to whoever presents `token` if there is one."""
    expected = token.get_secret_value().encode() if token is not None else None

    async def endpoint(request: Request) -> Response:
        if expected is not None:
            presented = (credentials_from_header(request.headers.get("authorization")) or "").encode()
            if not hmac.compare_digest(presented, expected):
                return Response(
                    "Send the metrics token as `Authorization: Bearer <PRISM_METRICS_TOKEN>`.\n",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                    media_type="text/plain",
                )
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint

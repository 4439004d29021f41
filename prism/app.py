"""The composition root: build_app(settings) wires the backing services, the schema and the HTTP routes."""

import asyncio
import contextlib
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from procrastinate import App
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from prism.auth.attempt_limits import AttemptLimits
from prism.auth.smtp import mailbox_path, mailer_from_settings
from prism.auth.tokens import issuer_from_settings
from prism.config import Settings
from prism.db import migrate
from prism.db.embedded import start_embedded_postgres
from prism.db.engine import build_engine
from prism.db.errors import loggable
from prism.db.roles import check_connection_role, ensure_login_role, url_for_role
from prism.db.tables import Membership
from prism.errors import PrismError, UnauthenticatedError
from prism.events.broker import open_broker
from prism.events.leases import open_leases
from prism.events.presence import open_presence
from prism.events.relay import OutboxRelay
from prism.jobs import JobResources, build_job_app, keep_running, run_worker
from prism.kv import StoreUnavailableError, open_store
from prism.observability.logging import configure_logging
from prism.observability.metrics import Metrics
from prism.observability.tracing import setup_tracing, tracing_enabled
from prism.production import check_production_settings
from prism.ratelimit import RateLimiter
from prism.runtime import Runtime, load_secret_key
from prism.services.api_keys import is_api_key
from prism.services.authentication import (
    ConnectionAccess,
    authenticate,
    credentials_from_connection_params,
    credentials_from_header,
)
from prism.storage import open_storage
from prism.web.account_pages import account_page_routes
from prism.web.concurrency import ConcurrencyLimiter
from prism.web.dashboard import dashboard_routes
from prism.web.dev_mail import dev_mail_endpoint
from prism.web.downloads import download_routes
from prism.web.graphql_http import GraphQLHTTP, stdlib_json
from prism.web.graphql_ws import GraphQLWebSocket, WebSocketRejectedError
from prism.web.home import home_endpoint
from prism.web.metrics import metrics_endpoint, serves_metrics
from prism.web.middleware import (
    InternalErrorMiddleware,
    RequestContextMiddleware,
    WebSocketFirst,
    internal_error_body,
)
from prism.web.persisted_queries import PersistedQueries
from prism.web.security import SecureHeadersMiddleware, cors_options, parse_origins
from prism.web.sso import sso_routes
from prism.web.usage_api import usage_api_routes
from resolvers.context import Context
from resolvers.limits import QueryLimits
from resolvers.live import TRY_AGAIN_LATER_CLOSE_CODE, still_allowed_all
from resolvers.schema import build_schema

__all__ = ["build_app"]

logger = logging.getLogger("prism")
_MEMBERSHIP = Membership.__table__  # type: ignore[attr-defined]
GRAPHQL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _State:
    """Holds the runtime once the lifespan has started it."""

    runtime: Runtime | None = None


@dataclass
class BackgroundWork:
    """What of the background work runs in the server process: a job worker, or the relay alone, or nothing."""

    worker: asyncio.Task[None] | None = None
    job_app: App | None = None
    relay: OutboxRelay | None = None

    async def stop(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        if self.worker is not None:
            # Cancelling asks the worker to stop: no new job, running ones finish (or are aborted after the grace).
            self.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.worker
        if self.job_app is not None:
            await self.job_app.close_async()


def _log_worker_end(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the embedded job worker stopped", exc_info=task.exception())


async def start_background_work(settings: Settings, url: str, runtime: Runtime) -> BackgroundWork:
    """Start what of the background work belongs in this process (docs/architecture.md, "Jobs").

    With the embedded worker (PRISM_EMBEDDED_WORKER; on by default with the embedded PostgreSQL) the server runs
    jobs itself, the relay's passes among them. Without it, a process of its own (`prism worker`) runs them, and
    relays events through Redis; without REDIS_URL no other process reaches this one's subscribers, so the server
    keeps relaying its own events in a task, as before the job queue.
    """
    if settings.embedded_worker_enabled:
        job_app = build_job_app(settings, url)
        await job_app.open_async()
        resources = JobResources(
            settings=settings,
            engine=runtime.engine,
            publisher=runtime.publisher,
            ai=runtime.ai,
            storage=runtime.object_store,
        )
        worker = asyncio.get_running_loop().create_task(
            keep_running(
                lambda: run_worker(job_app, resources, name="prism-embedded-worker", install_signal_handlers=False),
                what="the embedded job worker",
            ),
            name="prism-embedded-worker",
        )
        worker.add_done_callback(_log_worker_end)
        logger.info("running jobs in the server process (PRISM_EMBEDDED_WORKER)")
        return BackgroundWork(worker=worker, job_app=job_app)
    if settings.redis_url is None:
        relay = OutboxRelay(
            runtime.engine,
            runtime.publisher,
            grace=timedelta(seconds=settings.event_relay_grace_seconds),
            interval_seconds=settings.event_relay_interval_seconds,
            retention=timedelta(days=settings.event_retention_days),
        )
        relay.start()
        return BackgroundWork(relay=relay)
    logger.info("jobs, the event relay among them, run in `prism worker` processes (PRISM_EMBEDDED_WORKER is off)")
    return BackgroundWork()


def build_app(settings: Settings | None = None) -> Starlette:
    """A Starlette app whose lifespan starts and stops every backing service PRISM uses."""
    settings = settings or Settings()
    configure_logging(
        settings.log_level, settings.log_format or ("json" if settings.environment == "production" else "console")
    )
    state = _State()
    metrics = Metrics()
    tracing = tracing_enabled()
    # PRISM_PERF_BASELINE (benchmarks only) undoes what docs/performance.md measures: caches, gc.freeze, orjson and
    # the pool reset setting.
    baseline = settings.perf_baseline
    rate_limiter = (
        RateLimiter(
            per_identity=settings.rate_limit_per_identity,
            per_ip=settings.rate_limit_per_ip,
            anonymous_per_ip=settings.rate_limit_anonymous_per_ip,
            cost_budget_per_minute=settings.query_cost_budget_per_minute,
            redis_url=settings.redis_url,
        )
        if settings.rate_limit_enabled
        else None
    )
    limits = QueryLimits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_query_aliases,
        max_cost=settings.max_query_cost,
        limiter=rate_limiter,
        introspection=settings.introspection_enabled,
        suggestions=settings.suggestions_enabled,
    )
    schema = build_schema(tracing=tracing, caches=not baseline, limits=limits, planner=settings.planner)
    schema.deliverer.observe = metrics.subscription_delivery.observe  # type: ignore[attr-defined]
    cors_origins = parse_origins(settings.cors_origins)
    cors = cors_options(cors_origins, settings.cors_allow_credentials) if cors_origins else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        check_production_settings(settings)
        embedded = None
        url = settings.database_url
        admin_url = settings.database_admin_url or url
        if url is None:
            embedded = await asyncio.to_thread(start_embedded_postgres, settings.home_path)
            admin_url = embedded.url
            logger.info("using embedded PostgreSQL", extra={"pgdata": str(settings.home_path / "pgdata")})
        assert admin_url is not None
        if settings.auto_migrate:
            await asyncio.to_thread(migrate.upgrade, admin_url)
        if embedded is not None:
            # The embedded server is ours: connect through a role that row-level security binds, as production does.
            await ensure_login_role(admin_url, settings.database_app_role)
            url = url_for_role(admin_url, settings.database_app_role)
        assert url is not None
        engine = build_engine(
            url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
            idle_in_transaction_timeout=settings.database_idle_in_transaction_timeout_seconds,
            reset_on_return=baseline,
        )
        role = await check_connection_role(engine)
        if not role.safe:
            message = (
                f"The database role {role.name!r} is not bound by row-level security as PRISM's server must be: "
                f"{'; '.join(role.problems)}. Tenant isolation would rest on the application alone. Connect as a "
                "login role made by `prism db ensure-app-role` (docs/security.md)."
            )
            if settings.environment == "production":
                await engine.dispose()
                raise RuntimeError(message)
            logger.warning(message)
        tracer_provider = setup_tracing(engine)
        if rate_limiter is not None:
            rate_limiter.start()
        attempts = AttemptLimits(settings)
        attempts.start()
        storage = open_storage(settings)
        await storage.start()
        state.runtime = Runtime(
            settings=settings,
            storage=storage,
            engine=engine,
            tokens=issuer_from_settings(settings, load_secret_key(settings)),
            kv=open_store(settings.redis_url),
            mailer=mailer_from_settings(settings),
            attempts=attempts,
            embedded=embedded,
            broker=open_broker(settings.redis_url),
            presence_store=open_presence(settings.redis_url),
            subscription_leases=open_leases(settings.redis_url),
        )
        background = await start_background_work(settings, url, state.runtime)
        await state.runtime.hub.start()
        await state.runtime.presence.start()
        if not baseline:
            # Objects alive after start-up never need collecting; freezing them makes every later GC pass cheaper.
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 20, 20)
        logger.info("PRISM started", extra={"graphql": "/graphql"})
        try:
            yield
        finally:
            logger.info("PRISM stopping")
            await background.stop()
            await state.runtime.hub.stop()
            await state.runtime.subscription_leases.close()
            await state.runtime.presence.stop()
            await state.runtime.broker.close()
            await engine.dispose()
            await state.runtime.kv.close()
            await state.runtime.attempts.close()
            await state.runtime.ai.close()
            if rate_limiter is not None:
                await rate_limiter.close()
            if tracer_provider is not None:
                tracer_provider.shutdown()
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)
            state.runtime = None

    def runtime() -> Runtime:
        assert state.runtime is not None, "the app's lifespan has not started"
        return state.runtime

    async def make_context(request: Request) -> Context:
        rt = runtime()
        # The request's unit of work comes from authentication, its transaction opened (and scoped) by the role
        # look-up; without a viewer the request runs unscoped, as the sign-up and log-in mutations do.
        auth = await authenticate(rt, credentials_from_header(request.headers.get("authorization")), for_request=True)
        try:
            return Context(
                request=request,
                request_id=request.state.request_id,
                runtime=rt,
                viewer=auth.viewer,
                request_uow=auth.unit_of_work or rt.unit_of_work(),
                auth_error=auth.error,
            )
        except BaseException:
            if auth.unit_of_work is not None:
                await auth.unit_of_work.close()
            raise

    async def make_ws_context(websocket: WebSocket) -> Context:
        """A WebSocket connection's context: nobody signed in until `connection_init` (sign_in_ws)."""
        rt = runtime()
        return Context(
            request=websocket,
            request_id=uuid.uuid4().hex,
            runtime=rt,
            viewer=None,
            request_uow=rt.unit_of_work(),
        )

    async def sign_in_ws(context: Context) -> None:
        """Authenticate `connection_init`'s credential (else the upgrade request's Authorization header)."""
        credential = credentials_from_connection_params(context.connection_params)
        if credential is None and context.request is not None:
            credential = credentials_from_header(context.request.headers.get("authorization"))
        try:
            auth = await authenticate(context.runtime, credential)
        except StoreUnavailableError:
            raise WebSocketRejectedError(
                "SERVICE_UNAVAILABLE", "A service the server depends on is unavailable; reconnect shortly."
            ) from None
        if auth.viewer is None:
            error = auth.error or UnauthenticatedError("Send a token or API key in connection_init's payload.")
            raise WebSocketRejectedError(error.code.value, error.message)
        context.viewer = auth.viewer
        context.access = ConnectionAccess(credential, auth.viewer, auth.expires_at)

    async def recheck_ws(context: Context) -> tuple[int, str] | None:
        """Before a subscription starts on a signed-in connection: its access checked in full (a revocation while
        it had no subscription marked nothing stale). None while it holds, else the close code and reason."""
        if context.access is None:
            return None  # not signed in: the protocol handler refuses the operation itself
        context.access.stale = True
        try:
            (verdict,) = await still_allowed_all([context])
        except Exception:  # the database could not be read: the subscription may not start unchecked
            logger.exception("a WebSocket connection's access could not be checked")
            return TRY_AGAIN_LATER_CLOSE_CODE, "Try again later: the server cannot check your access now."
        return verdict

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def _probe_database() -> None:
        async with runtime().engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))  # unscoped: a readiness probe, reads no table

    async def readyz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            # Two seconds for all of it, waiting for a pooled connection included: an exhausted pool is not ready.
            await asyncio.wait_for(_probe_database(), timeout=2)
            checks["database"] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            logger.warning("readiness check failed", extra={"check": "database", "error": type(error).__name__})
            checks["database"] = "unavailable"
        if settings.redis_url:
            try:
                checks["redis"] = "ok" if await asyncio.wait_for(runtime().kv.ping(), timeout=2) else "unavailable"
            except Exception as error:  # noqa: BLE001 - any failure means not ready
                logger.warning("readiness check failed", extra={"check": "redis", "error": type(error).__name__})
                checks["redis"] = "unavailable"
        if settings.s3_endpoint:
            try:
                reachable = await asyncio.wait_for(runtime().object_store.reachable(), timeout=2)
                checks["storage"] = "ok" if reachable else "unavailable"
            except Exception as error:  # noqa: BLE001 - any failure means not ready
                logger.warning("readiness check failed", extra={"check": "storage", "error": type(error).__name__})
                checks["storage"] = "unavailable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )

    def token_user(credential: str) -> str | None:
        """The user a valid access token names (its signature checked, no database), for the concurrency limiter."""
        if is_api_key(credential):
            return None
        try:
            return str(runtime().tokens.verify(credential).user_id)
        except PrismError:
            return None

    executor_series = {name: metrics.executors.labels(name) for name in ("planned", "resolvers")}

    def count_executor(executor: str) -> None:
        series = executor_series.get(executor)
        (series if series is not None else metrics.executors.labels(executor)).inc()

    from prism.web.graphiql import graphiql_page, graphiql_routes

    # One limiter for /graphql and the usage endpoint: a caller's requests in progress count across both.
    concurrency = ConcurrencyLimiter(settings.max_requests_in_progress_per_caller, settings.request_queue_wait_seconds)
    graphql = GraphQLHTTP(
        schema,
        make_context,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.attachment_max_bytes,
        graphiql=graphiql_page if settings.graphiql_enabled else None,
        encode=stdlib_json if baseline else orjson.dumps,
        rate_limiter=rate_limiter,
        concurrency=concurrency,
        token_user=token_user,
        executor_header=settings.environment != "production",
        count_executor=count_executor,
        persisted_queries=PersistedQueries(
            lambda: runtime().kv,
            settings.persisted_query_ttl_seconds,
            max_bytes=settings.persisted_query_max_bytes,
            per_hour=settings.persisted_query_registrations_per_hour,
            anonymous_per_hour=settings.persisted_query_anonymous_registrations_per_hour,
        ),
    )
    subscriptions = GraphQLWebSocket(
        schema,
        make_ws_context,
        sign_in_ws,
        recheck_ws,
        max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
        keep_alive_seconds=settings.ws_keepalive_seconds,
        connection_init_timeout_seconds=settings.ws_connection_init_timeout_seconds,
        max_document_bytes=settings.max_body_bytes,
        allowed_origins=cors_origins,
    )
    routes = [
        Route("/", home_endpoint(graphiql=settings.graphiql_enabled), methods=["GET"]),
        # The development mailbox (one-time tokens in clear): never in production, nor with real mail configured.
        *(
            [Route("/dev/mail", dev_mail_endpoint(mailbox_path(settings)), methods=["GET"])]
            if settings.environment != "production" and settings.smtp_url is None
            else []
        ),
        Route("/graphql", graphql.endpoint, methods=GRAPHQL_METHODS),
        WebSocketRoute("/graphql", subscriptions),
        *account_page_routes(runtime),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *(
            [Route("/metrics", metrics_endpoint(metrics, settings.metrics_token), methods=["GET"])]
            if serves_metrics(settings)
            else []
        ),
        # Browsers ask for it on every GraphiQL load; an empty answer keeps their consoles quiet.
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        *(graphiql_routes() if settings.graphiql_enabled else []),
        *dashboard_routes(),
        *sso_routes(settings, runtime),
        *download_routes(runtime),
        *usage_api_routes(settings, runtime, rate_limiter, concurrency, token_user),
    ]

    async def internal_error(request: Request, error: Exception) -> Response:
        # Only for failures of the middleware below (InternalErrorMiddleware answers everything inside it):
        # ServerErrorMiddleware sends this outside RequestContextMiddleware, so the id is added here.
        request_id = getattr(request.state, "request_id", None)
        logger.error("unhandled error", exc_info=loggable(error), extra={"request_id": request_id})
        return JSONResponse(
            internal_error_body(request_id), status_code=500, headers={"X-Request-Id": request_id or ""}
        )

    app = WebSocketFirst(
        exception_handlers={Exception: internal_error},
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(
                RequestContextMiddleware, metrics=metrics, expose_sql_count=settings.environment != "production"
            ),
            Middleware(
                SecureHeadersMiddleware,
                hsts_max_age=settings.hsts_max_age_seconds if settings.environment == "production" else None,
            ),
            *([Middleware(CORSMiddleware, **cors)] if cors else []),
            # Innermost, so its 500s pass through the request id, secure headers and CORS like any answer.
            Middleware(InternalErrorMiddleware),
        ],
    )
    # Subscriptions skip the HTTP middleware (none of it acts on a WebSocket), keeping what does: tracing, proxies.
    websocket_app: Any = subscriptions
    if tracing:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        app.add_middleware(OpenTelemetryMiddleware, excluded_urls="healthz,metrics")
        websocket_app = OpenTelemetryMiddleware(websocket_app, excluded_urls="healthz,metrics")
    if settings.trusted_proxy_list:
        # Outermost, so everything inside (rate limits, sessions, audit) sees the client the proxy names; `prism serve`
        # turns uvicorn's own handling off, which would otherwise trust any proxy on 127.0.0.1.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
        websocket_app = ProxyHeadersMiddleware(websocket_app, trusted_hosts=settings.trusted_proxy_list)
    app.route_websocket("/graphql", websocket_app)
    app.state.schema = schema
    app.state.settings = settings
    app.state.runtime = runtime
    return app

"""The long-lived clients of a running PRISM, created in the app's lifespan and reached through each context."""

import secrets
from dataclasses import dataclass, field
from functools import cached_property
from uuid import UUID

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine

from prism.ai.gateway import AiGateway, build_gateway
from prism.auth.attempt_limits import AttemptLimits
from prism.auth.mailer import Mailer
from prism.auth.passwords import PasswordHasher, make_hasher
from prism.auth.tokens import TokenIssuer
from prism.config import Settings
from prism.db.embedded import EmbeddedPostgres
from prism.db.outbox import Actor
from prism.db.unit_of_work import UnitOfWork
from prism.events.broker import Broker, InProcessBroker
from prism.events.hub import EventHub
from prism.events.leases import Leases, MemoryLeases
from prism.events.presence import MemoryPresence, Presence, PresenceHub
from prism.events.publisher import EventPublisher
from prism.kv import KeyValueStore
from prism.storage import DownloadSigner, LocalStore, ObjectStore

__all__ = ["Runtime", "load_secret_key"]


@dataclass
class Runtime:
    """Everything a request needs that outlives it."""

    settings: Settings
    engine: AsyncEngine
    tokens: TokenIssuer
    kv: KeyValueStore
    mailer: Mailer
    attempts: AttemptLimits
    hasher: PasswordHasher = field(default_factory=make_hasher)
    embedded: EmbeddedPostgres | None = None
    broker: Broker = field(default_factory=InProcessBroker)
    presence_store: Presence = field(default_factory=MemoryPresence)
    subscription_leases: Leases = field(default_factory=MemoryLeases)
    storage: ObjectStore | None = None
    """Where attachment contents live (prism.storage); unset: a directory under PRISM's home, opened lazily."""
    """How many subscriptions each user or API key holds, counted across replicas (Redis) or in this process."""
    publisher: EventPublisher = field(init=False)
    hub: EventHub = field(init=False)
    """This process's listener to the broker, which subscriptions read from (started by the server's lifespan)."""
    presence: PresenceHub = field(init=False)
    """Who is viewing or editing what, and this process's listener to changes of it (started by the lifespan)."""
    ai: AiGateway = field(init=False)
    """Embeddings and the vector index; opened on first use, closed by the lifespan."""
    simulations: anyio.CapacityLimiter = field(init=False)
    """The worker threads CPU-bound simulations (forecasts) may use at once in this process."""

    def __post_init__(self) -> None:
        self.publisher = EventPublisher(self.broker)
        self.hub = EventHub(self.broker, self.engine, leases=self.subscription_leases)
        self.presence = PresenceHub(self.broker, self.presence_store)
        self.ai = build_gateway(self.settings)
        self.simulations = anyio.CapacityLimiter(self.settings.forecast_threads)

    @property
    def object_store(self) -> ObjectStore:
        """The attachment store: the one the lifespan opened, else the directory under PRISM's home."""
        if self.storage is None:
            self.storage = LocalStore(self.settings.home_path / "files")
        return self.storage

    @cached_property
    def download_signer(self) -> DownloadSigner:
        """Signs and checks the tokens of PRISM's `/files/<token>` download route, with the server's secret key."""
        return DownloadSigner(load_secret_key(self.settings))

    def unit_of_work(
        self, organization_id: UUID | None = None, user_id: UUID | None = None, *, api_key_id: UUID | None = None
    ) -> UnitOfWork:
        """A unit of work whose committed events go to the broker right away (the relay covers the rest)."""
        return UnitOfWork(
            self.engine,
            organization_id,
            user_id,
            actor=Actor(user_id=user_id, api_key_id=api_key_id),
            publish=self.publisher,
        )


def load_secret_key(settings: Settings) -> bytes:
    """The token signing key: from settings, else generated once and kept (mode 600) under PRISM's home."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value().encode()
        if len(key) < 32:
            raise ValueError("PRISM_SECRET_KEY must be at least 32 characters long")
        return key
    path = settings.home_path / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()

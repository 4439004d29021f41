"""Outgoing mail (verification links, password resets, invitations): pluggable, logged in development."""

import logging
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["LogMailer", "Mailer", "Message", "RecordingMailer"]

logger = logging.getLogger("prism.mail")


@dataclass(frozen=True)
class Message:
    """One email."""

    to: str
    subject: str
    body: str


class Mailer(Protocol):
    """Sends messages; implementations must not raise for a recipient's mistake (the caller cannot fix it)."""

    async def send(self, message: Message) -> None: ...


class LogMailer:
    """Development mailer: writes each message to the log instead of sending it."""

    async def send(self, message: Message) -> None:
        logger.info(
            "mail not sent (development mailer)",
            extra={"to": message.to, "subject": message.subject, "body": message.body},
        )


@dataclass
class RecordingMailer:
    """Keeps messages in memory: for tests and for `prism` commands that show what would be sent."""

    sent: list[Message] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        self.sent.append(message)

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


@dataclass
class LogMailer:
    """Development mailer: writes each message to the log instead of sending it.

    The body carries one-time tokens, so it is logged only when `include_body` is set (development); in production
    an operator without SMTP sees that mail was due, never the secret in it.
    """

    include_body: bool = True

    async def send(self, message: Message) -> None:
        extra = {"to": message.to, "subject": message.subject}
        if self.include_body:
            extra["body"] = message.body
        logger.info("mail not sent (no SMTP configured)", extra=extra)


@dataclass
class RecordingMailer:
    """Keeps messages in memory: for tests and for `prism` commands that show what would be sent."""

    sent: list[Message] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        self.sent.append(message)

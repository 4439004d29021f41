"""The development mailbox: mail PRISM would send, kept as files a person can read, so invitations, email
verification and password resets work end to end on a laptop without SMTP.

Each message is a JSON file under `<PRISM_HOME>/mail/` (mode 600: the bodies carry one-time tokens), newest last by
name; the newest `MAILBOX_SIZE` are kept. `/dev/mail` (outside production) and `prism mail list` read them, and the
console log shows each message's links as it is "sent". Production never uses it (docs/operations.md).
"""

import json
import logging
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from prism.auth.mailer import Message

__all__ = ["MAILBOX_SIZE", "MailboxMailer", "StoredMessage", "read_mailbox"]

logger = logging.getLogger("prism.mail")

MAILBOX_SIZE = 200
_LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class StoredMessage:
    """A message in the mailbox, with when it was written."""

    id: str
    sent_at: float
    to: str
    subject: str
    body: str

    @property
    def links(self) -> list[str]:
        return _LINK.findall(self.body)


class MailboxMailer:
    """Keeps each message as a file in `directory` and logs its recipient, subject and links."""

    def __init__(self, directory: Path, size: int = MAILBOX_SIZE) -> None:
        self.directory = directory
        self._size = size

    async def send(self, message: Message) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stored = StoredMessage(
            id=f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}",
            sent_at=time.time(),
            to=message.to,
            subject=message.subject,
            body=message.body,
        )
        path = self.directory / f"{stored.id}.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(asdict(stored), file)
        for old in sorted(self.directory.glob("*.json"))[: -self._size]:
            old.unlink(missing_ok=True)
        logger.info(
            "mail kept in the development mailbox (/dev/mail, prism mail list)",
            extra={"to": message.to, "subject": message.subject, "links": " ".join(stored.links) or None},
        )


def read_mailbox(directory: Path, limit: int = 50) -> list[StoredMessage]:
    """The newest `limit` messages of the mailbox, newest first."""
    if not directory.is_dir():
        return []
    messages = []
    for path in sorted(directory.glob("*.json"), reverse=True)[:limit]:
        try:
            messages.append(StoredMessage(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # removed meanwhile, or not one of ours
    return messages

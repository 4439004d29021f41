"""The SMTP mailer (stdlib smtplib, run in a worker thread) and the choice of mailer from settings."""

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from prism.auth.mailbox import MailboxMailer
from prism.auth.mailer import LogMailer, Mailer, Message
from prism.config import Settings

__all__ = ["SmtpMailer", "mailbox_path", "mailer_from_settings"]

logger = logging.getLogger("prism.mail")


class SmtpMailer:
    """Sends each message over SMTP: `smtp://` (STARTTLS when the server offers it) or `smtps://` (implicit TLS)."""

    def __init__(self, url: str, sender: str, timeout_seconds: float = 10) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("PRISM_SMTP_URL must look like smtp://[user:password@]host:port or smtps://...")
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._tls else 25)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._sender = sender
        self._timeout = timeout_seconds

    def _send_now(self, message: Message) -> None:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.body)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self._tls:
            client = smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
        else:
            client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with client:
            client.ehlo()
            if not self._tls and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            if self._username is not None:
                client.login(self._username, self._password or "")
            client.send_message(email)

    async def send(self, message: Message) -> None:
        """Send without blocking the event loop; a refused recipient is logged, not raised."""
        try:
            await asyncio.to_thread(self._send_now, message)
        except smtplib.SMTPRecipientsRefused:
            logger.warning("mail recipient refused", extra={"subject": message.subject})


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when `PRISM_SMTP_URL` is set; otherwise the development mailbox, or in production a warning and a log
    line that mail was due (never its body)."""
    if settings.smtp_url is not None:
        return SmtpMailer(settings.smtp_url.get_secret_value(), settings.mail_from)
    if settings.environment == "production":
        logger.warning("PRISM_SMTP_URL is not set: verification and password-reset emails are not sent.")
        return LogMailer(include_body=False)
    return MailboxMailer(mailbox_path(settings))


def mailbox_path(settings: Settings) -> Path:
    """Where the development mailbox keeps mail (prism/auth/mailbox.py)."""
    return settings.home_path / "mail"

"""A real SMTP server for the tests: aiosmtpd on a free loopback port, keeping what it
receives.

The portal's SMTP client (smtplib) talks to it over TCP as it would to a production mail
server; the test reads the messages as a mail program would (`email`, the default policy).
It can be stopped and started again on the same port, for a mail server that is down for a
while, and told to refuse recipients, as a server does for a mailbox it does not have.
"""

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.served import free_port

WAIT = 15.0  # seconds a test waits for a message it expects (a loaded 2-core machine)


@dataclass(frozen=True)
class Received:
    """One message as the server received it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None, "the message has no plain text"
        return str(part.get_content()).replace("\r\n", "\n")  # as a mail program shows it


class _Handler:
    def __init__(self, server: "SmtpServer") -> None:
        self.server = server

    async def handle_RCPT(  # noqa: N802 (aiosmtpd calls its hooks by these names)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.server.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.server.keep(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd listening on 127.0.0.1:`port` while started; `messages` is what it got."""

    def __init__(self, port: int | None = None, **options: Any) -> None:
        """`options` go to aiosmtpd's Controller and SMTP: `tls_context` and
        `require_starttls` for STARTTLS, `ssl_context` for TLS from the start,
        `authenticator` for a login."""
        self.port = port or free_port()
        self.options = options
        self.messages: list[Received] = []
        self.refused: set[str] = set()
        self._arrived = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SmtpServer":
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **self.options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def keep(self, received: Received) -> None:
        with self._arrived:
            self.messages.append(received)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        """The messages once there are at least `count` of them (AssertionError if they do
        not come within `timeout` seconds)."""
        with self._arrived:
            arrived = self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            assert arrived, f"{len(self.messages)} of {count} messages arrived"
            return list(self.messages)

    def to(self, address: str) -> list[Received]:
        return [received for received in self.messages if address in received.rcpt_tos]


@contextmanager
def smtp_server(**options: Any) -> Iterator[SmtpServer]:
    server = SmtpServer(**options).start()
    try:
        yield server
    finally:
        server.stop()

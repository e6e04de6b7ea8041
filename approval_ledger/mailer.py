"""The e-mail notices' SMTP client, and their sender as `ledger serve` runs it.

The client is the standard library's smtplib, one connection per message: notices are a
few a day, and a connection kept open between them would only go stale. It tells apart a
message that surely was not handed over (the server could not be reached, or refused the
sender, the recipient or the message: it may be tried again) from one whose connection was
lost while it was being handed over (the server may have accepted it: it is not tried
again, so that no one gets a notice twice). See `ledger.storage.notices`.
"""

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from ledger.config import SmtpSettings
from ledger.notices import HandOverUnknown, NotHandedOver, NoticeSender
from ledger.storage.notices import Outbox

TIMEOUT = 20.0  # seconds the server has to answer each command


class SmtpMailer:
    """Delivers one message at a time to the server of LEDGER_SMTP_URL."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        timeout: float = TIMEOUT,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        # The system's certificate authorities, host name checked (a test passes its own).
        self.tls_context = tls_context or ssl.create_default_context()

    def deliver(self, message: EmailMessage, *, before_data: Callable[[], bool]) -> None:
        """Hand `message` to the server for its one recipient (see `ledger.notices.Mailer`)."""
        recipient = message["To"].addresses[0].addr_spec
        try:
            connection = self._connect()
        except (OSError, smtplib.SMTPException) as error:
            raise NotHandedOver(_problem(error), permanent=_permanent(error)) from None
        try:
            self._before_message(connection, recipient)
            if not before_data():
                raise NotHandedOver("the claim on the notice was lost before it was sent")
            self._message(connection, message)
        finally:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == SmtpSettings.TLS:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=self.timeout, context=self.tls_context
            )
        else:
            connection = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        try:
            connection.ehlo()
            if s.security == SmtpSettings.STARTTLS:
                connection.starttls(context=self.tls_context)
                connection.ehlo()
            if s.user is not None:
                connection.login(s.user, s.password or "")
        except BaseException:
            connection.close()
            raise
        return connection

    def _before_message(self, connection: smtplib.SMTP, recipient: str) -> None:
        """MAIL FROM and RCPT TO: nothing of the message is sent yet, so any failure here
        is one that may be tried again (or, 5xx, one that never will succeed)."""
        try:
            code, _ = connection.mail(self.settings.sender)
            if code != 250:
                raise _refused("MAIL FROM", code)
            code, _ = connection.rcpt(recipient)
            if code not in (250, 251):
                raise _refused("RCPT TO", code)
        except (OSError, smtplib.SMTPException) as error:
            raise NotHandedOver(_problem(error), permanent=_permanent(error)) from None

    def _message(self, connection: smtplib.SMTP, message: EmailMessage) -> None:
        """DATA and the message. A refusal is an answer (the server did not take it); a
        lost connection or no answer leaves it unknown whether it did."""
        try:
            connection.data(message.as_bytes(policy=SMTP))
        except smtplib.SMTPResponseException as error:
            raise NotHandedOver(_problem(error), permanent=_permanent(error)) from None
        except (OSError, smtplib.SMTPException) as error:
            raise HandOverUnknown(_problem(error)) from None


def _refused(step: str, code: int) -> smtplib.SMTPResponseException:
    return smtplib.SMTPResponseException(code, f"{step} refused".encode())


def _permanent(error: BaseException) -> bool:
    """A 5xx answer, which the same message will get again (a 4xx is for now)."""
    return isinstance(error, smtplib.SMTPResponseException) and 500 <= error.smtp_code < 600


def _problem(error: BaseException) -> str:
    """What went wrong, for the log and the outbox: the error's kind and the server's code,
    never its text, which may quote the recipient's address."""
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{type(error).__name__} {error.smtp_code}"
    return type(error).__name__


def start_notice_sender(services: Any) -> NoticeSender | None:
    """The notice sender of one `ledger serve` worker, over the worker's own ledger and
    outbox (why one in every worker: `ledger.checkpointer`; the outbox's claims let only
    one send each notice), or None when e-mail is off (no LEDGER_SMTP_URL)."""
    settings = services.settings
    if settings.smtp is None:
        return None
    outbox: Outbox = services.outbox
    return NoticeSender(
        services.ledger,
        outbox,
        SmtpMailer(settings.smtp),
        sender=settings.smtp.sender,
        staff=settings.staff_emails,
        portal_url=services.saml.base_url,
    ).start()

"""Sending over SMTP with :mod:`smtplib`: no TLS, STARTTLS, or implicit TLS (``smtps``, port 465).

The certificate of the server is always verified when TLS is used: the system's CA certificates plus
``AUDITD_SMTP_CA_FILE`` (a municipality's private CA, or the test CA). One connection is opened on the
first message and reused for the next ones; any error closes it, so the next message reconnects.

Errors come out as :class:`SendError`, which says whether the fault is the server's or the
configuration's (``connection``: trying the next message now is pointless) and whether retrying this
message could ever help (``permanent``).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from types import TracebackType

from auditd.settings import Settings


class SendError(Exception):
    """One message could not be sent. ``connection``: the server or the settings are at fault (stop the
    run); ``permanent``: the server refused this message for good (5xx); ``config``: a setting must be
    fixed (authentication, TLS verification), so the message waits for it rather than failing."""

    def __init__(self, message: str, *, connection: bool = False, permanent: bool = False, config: bool = False):
        super().__init__(message)
        self.connection = connection
        self.permanent = permanent
        self.config = config


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A client context that verifies the server's certificate and name, trusting ``smtp_ca_file`` too."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if settings.smtp_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.smtp_ca_file))
    return context


class SmtpTransport:
    """A reusable SMTP connection for one delivery run. Use as a context manager."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise SendError("SMTP is not configured (AUDITD_SMTP_HOST)", connection=True, config=True)
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.settings.smtp_host}:{self.settings.smtp_port} ({self.settings.smtp_security})"

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        assert s.smtp_host is not None
        smtp: smtplib.SMTP
        if s.smtp_security == "tls":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=tls_context(s))
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            smtp.ehlo()
            if s.smtp_security == "starttls":
                smtp.starttls(context=tls_context(s))
                smtp.ehlo()
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Send ``message`` to ``recipient`` (the envelope; the headers are the message's)."""
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message, from_addr=self.settings.smtp_from, to_addrs=[recipient])
        except Exception as exc:
            self.close()
            raise self._explain(exc) from exc

    def close(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            try:
                smtp.quit()
            except Exception:  # the server went away first: nothing left to close politely
                _quietly_close(smtp)

    def _explain(self, exc: Exception) -> SendError:
        where = self.where
        if isinstance(exc, SendError):
            return exc
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return SendError(
                f"authentication refused by {where} for user {self.settings.smtp_username!r}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)} (check AUDITD_SMTP_USERNAME / AUDITD_SMTP_PASSWORD)",
                connection=True,
                config=True,
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return SendError(
                f"{where}: {exc} (AUTH is often offered only after STARTTLS: check AUDITD_SMTP_SECURITY)",
                connection=True,
                config=True,
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return SendError(
                f"the TLS certificate of {where} is not trusted: {exc.verify_message} "
                "(a private CA goes in AUDITD_SMTP_CA_FILE)",
                connection=True,
                config=True,
            )
        if isinstance(exc, ssl.SSLError):
            return SendError(f"TLS with {where} failed: {exc}", connection=True, config=True)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{code} {_text(reply)}" for code, reply in exc.recipients.values())
            return SendError(f"recipient refused by {where}: {detail}", permanent=all(c >= 500 for c in codes))
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return SendError(
                f"sender {exc.sender!r} refused by {where}: {exc.smtp_code} {_text(exc.smtp_error)} "
                "(check AUDITD_SMTP_FROM)",
                connection=True,
                config=exc.smtp_code >= 500,
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return SendError(
                f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=exc.smtp_code >= 500,
                connection=exc.smtp_code == 421,
            )
        if isinstance(exc, socket.timeout | TimeoutError):
            return SendError(f"{where} did not answer within {self.settings.smtp_timeout:g} s", connection=True)
        if isinstance(exc, smtplib.SMTPServerDisconnected | OSError | smtplib.SMTPException):
            return SendError(f"cannot reach {where}: {exc}", connection=True)
        return SendError(f"sending through {where} failed: {exc!r}", connection=True)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _quietly_close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except Exception:  # closing a broken socket: nothing to report
        return

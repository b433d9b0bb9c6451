"""E-mail to a care team that a patient's question is waiting (off unless SMTP is configured).

When ``WebSettings.smtp_host`` is set and a patient's care team has a ``notify_email``, a patient
who starts a thread or writes more makes the app send that address one short e-mail. It holds
no patient data at all (RELIABILITY D5, G1): no id, no name, no subject, no message text, only
that a question is waiting and the site's name. Staff sign in to read it.

The mail goes out after the message is committed (the route hands it to a background task), and
a failure never fails the request: it is logged with the exception's type only, never the
addresses or the content.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from relapsewatch.web.settings import WebSettings

__all__ = ["NOTICE_TEXT", "notice_message", "send_new_question_notice"]

logger = logging.getLogger("relapsewatch.web.notify")

#: The whole text of the notice: nothing about the patient or the question.
NOTICE_TEXT = "A new question is waiting in {site}. Sign in to read it."


def notice_message(settings: WebSettings, address: str) -> EmailMessage:
    """The notice to one address (one mail per address, so teams do not see each other)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = address
    message["Subject"] = f"New question in {settings.site_name}"
    message.set_content(NOTICE_TEXT.format(site=settings.site_name) + "\n")
    return message


def send_new_question_notice(settings: WebSettings, addresses: Sequence[str]) -> int:
    """Send the notice to each address over one SMTP connection; returns how many were sent.

    Does nothing (0) without ``smtp_host`` or addresses. Uses STARTTLS when
    ``smtp_starttls`` is set (certificate checked) and logs in when ``smtp_username`` is set.
    Never raises: a failure is logged by exception type and the count sent so far is returned.
    """
    if not settings.smtp_host or not addresses:
        return 0
    sent = 0
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            for address in addresses:
                smtp.send_message(notice_message(settings, address))
                sent += 1
    except Exception as exc:  # the message is saved; a lost notice must not fail the request
        logger.warning("new-question e-mail not sent (%s)", type(exc).__name__)
    return sent

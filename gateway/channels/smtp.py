"""Mail (SMTP): the alert as plain text to the recipients of its hot-list category, over
STARTTLS unless turned off; a server that does not offer STARTTLS is refused rather than used in
clear text."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from gateway.alert_message import subject, text
from gateway.channels.base import Channel

log = logging.getLogger("alpr.alerts")


def category(payload: dict[str, Any]) -> str:
    """The hit's category, for its recipients; a notice without an entry goes to `to`."""
    return str(payload.get("entry", {}).get("category", ""))


class EmailChannel(Channel):
    def recipients(self, category: str) -> list[str]:
        """The category's own list, else the default `to`."""
        return list(self.target.recipients.get(category) or self.target.to)

    def message(self, payload: dict[str, Any]) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = str(self.target.sender)
        msg["To"] = ", ".join(self.recipients(category(payload)))
        msg["Subject"] = subject(payload)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(idstring=f"alpr-hit-{payload.get('hit', 'notice')}")
        msg.set_content(text(payload))
        return msg

    def send(self, payload: dict[str, Any], body: str) -> None:
        target = self.target
        msg = self.message(payload)
        to = self.recipients(category(payload))
        with smtplib.SMTP(str(target.host), target.server_port, timeout=self.timeout_s) as smtp:
            smtp.ehlo()
            if target.starttls:
                if not smtp.has_extn("starttls"):
                    raise RuntimeError(
                        f"mail server {target.host}:{target.server_port} does not offer STARTTLS;"
                        " not sending in clear text (set starttls = false to allow it)"
                    )
                cafile = str(target.ca_file) if target.ca_file else None
                smtp.starttls(context=ssl.create_default_context(cafile=cafile))
                smtp.ehlo()
            if target.username is not None:
                smtp.login(target.username, self.password() or "")
            refused = smtp.send_message(msg, from_addr=str(target.sender), to_addrs=to)
        if refused:  # the others have it: sending again would repeat it to them
            log.error(
                "%s: alert hit %s refused for %s",
                self.key,
                payload.get("hit", payload.get("type")),
                ", ".join(f"{a} ({c} {m!r})" for a, (c, m) in refused.items()),
            )

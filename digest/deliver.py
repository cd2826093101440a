"""Delivery: build the message bytes (`digest.mime`) and hand them to a transport (`digest.transports`).

This module is the one import callers need; the two halves live apart because they change for different
reasons (header rules versus SMTP behaviour).
"""

from __future__ import annotations

from digest.mime import POLICY, Sender, build_message, message_id
from digest.transports import MaildirTransport, PooledTransport, Security, SmtpTransport, Transport

__all__ = [
    "POLICY",
    "MaildirTransport",
    "PooledTransport",
    "Security",
    "Sender",
    "SmtpTransport",
    "Transport",
    "build_message",
    "message_id",
]

"""Mail: what a digest says and how it becomes bytes on the wire.

    Ranked picks + rows --compose--> DigestView --render--> RenderedEmail (subject, text, HTML)
    --mime / mime_template--> message bytes (headers: `headers`) --transports--> Maildir or SMTP

`mime.build_message` is the reference builder; `mime_template.MessageTemplate` builds the same bytes in a
fraction of the time (quoted-printable in `quoted_printable`) and is what sending uses.
"""

from digest.mail.headers import Sender, message_id
from digest.mail.mime import build_message
from digest.mail.mime_template import MessageTemplate
from digest.mail.render import Renderer
from digest.mail.transports import MaildirTransport, PooledTransport, SmtpTransport, Transport, make_transport

__all__ = [
    "MaildirTransport",
    "MessageTemplate",
    "PooledTransport",
    "Renderer",
    "Sender",
    "SmtpTransport",
    "Transport",
    "build_message",
    "make_transport",
    "message_id",
]

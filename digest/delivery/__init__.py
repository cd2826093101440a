"""The send engine: every digest due is written to the ledger, claimed under a lease, built and sent a
window at a time, and its outcome recorded, never twice for one subscriber and date.

    due pairs --enqueue--> ledger --claim_batch--> batch (rank, render, MIME; ahead in a helper process:
    `batch_ahead`) --worker (windows of SMTP sends)--> outcomes (`policy` decides retry, failed, unknown)

`send` holds the entry points the command line and the demo call; `report` what a run reports.
"""

from digest.delivery.report import Outcome, SendReport
from digest.delivery.send import Preview, preview, send_due
from digest.delivery.worker import run_worker

__all__ = ["Outcome", "Preview", "SendReport", "preview", "run_worker", "send_due"]

"""`digest serve` and `digest worker`: the long-running commands (registered in digest/cli.py)."""

from __future__ import annotations

import asyncio
import logging

import click

from digest.cli.common import config_option, handles_errors, open_context
from digest.logs import setup_logging
from digest.service import processes as service


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web app listens on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@handles_errors
def serve(host: str, port: int) -> None:
    """Web app and scheduler in one process (fetch, send and tidy on schedule)."""
    setup_logging(logging.INFO)
    ctx = open_context()
    try:
        asyncio.run(service.serve(ctx, host, port))
    finally:
        ctx.close()


@click.command()
@config_option
@click.option(
    "--metrics-port", type=click.IntRange(1, 65535), default=None, help="Serve /metrics on this port."
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address /metrics listens on.")
@handles_errors
def worker(metrics_port: int | None, metrics_host: str) -> None:
    """Delivery only: send due digests until stopped (several may share one PostgreSQL)."""
    setup_logging(logging.INFO)
    ctx = open_context()
    try:
        asyncio.run(service.worker(ctx, metrics_port=metrics_port, metrics_host=metrics_host))
    finally:
        ctx.close()

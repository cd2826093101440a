"""The database: engine and sessions, the models, and every query, as functions taking a Session.

The only package that holds SQL. One module per entity: papers, sources, runs, subscribers (with their
interests and feedback), the delivery ledger (`ledger`, its bulk writes in `ledger_bulk`), the stored
schedule (`schedule`: what is due), embeddings, and the advisory locks the scheduler's leader holds.
"""

from digest.store.db import make_engine, make_sessions, transaction, upgrade

__all__ = ["make_engine", "make_sessions", "transaction", "upgrade"]

"""Event uids: 128 bits, time-ordered like UUIDv7, as 32 hex characters.

The first 48 bits are the Unix time in milliseconds, the other 80 are random. Uids made close in
time sort close together, so the server's unique index on event_uid grows at its end like the
id index does. Random uids (uuid4) land on a different index page each; a batch of 1,000 of them
rewrites ~1,000 index pages at commit, which was most of the write cost of a batch.
"""

from __future__ import annotations

import os
import time


def new_uid() -> str:
    """A fresh uid: 12 hex digits of milliseconds, then 20 random hex digits."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"

"""Real time: the broker that carries committed events between processes, and the relay that backs it up.

The event log itself is written by the unit of work (prism/db/outbox.py); this package moves its rows: the publisher
hands each committed event to the broker right after the commit, and the relay republishes what a crash or a broker
outage left unpublished. docs/architecture.md, "Events", has the whole picture.
"""

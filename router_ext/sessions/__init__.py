"""harness_sessions: one row per Claude Code session, Ralph task and harness API job.

- :mod:`.fold` folds fresh events into sessions inside the insert transaction (a writer step).
- :mod:`.apply` and :mod:`.state` say how each kind of event changes a session.
- :mod:`.usage` and :mod:`.pricing` turn token counts into cost.
- :mod:`.sweeper` abandons sessions that stopped reporting.
"""

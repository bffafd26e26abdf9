"""Every query over `events` and `harness_sessions`: functions of a connection or engine."""

"""Where an event enters: wire formats, the field rules, and normalize (one row per event)."""

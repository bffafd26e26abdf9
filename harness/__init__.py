"""The claude-harness ASGI middleware and the reference claude-harness API."""

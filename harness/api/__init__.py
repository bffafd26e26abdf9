"""The reference claude-harness API (`python -m harness.api`); see harness.api.app."""

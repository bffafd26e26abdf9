"""Human in the loop: answering an agent's question or permission request from anywhere.

- :mod:`.answer` checks a response against the request's type and builds the stored status.
- :mod:`.relay` delivers an answer to the agent's `responseWebSocketUrl` (allow list, timeout).
- :mod:`.service` ties them to the writer: respond, held PermissionRequest waits, timeouts.
"""

from router_ext.hitl.service import HitlService

__all__ = ["HitlService"]

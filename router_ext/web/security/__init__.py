"""HTTP and WebSocket security, as ASGI middleware in the order a request meets it:

1. :class:`HostGuard` - the Host allow list (DNS rebinding), before routing;
2. CORS from the explicit allow list (router_ext.web.app);
3. :class:`OriginGuard` - cross-site state changes and WebSockets refused, JSON required;
4. :class:`AccessGuard` - the role a route needs, and the cap on open streams.

Connection caps and read timeouts live below ASGI, in :mod:`.protocol` (uvicorn).
"""

from router_ext.web.security.guard import CREDENTIAL_KEY, AccessGuard
from router_ext.web.security.hosts import HostGuard
from router_ext.web.security.origins import OriginGuard

__all__ = ["CREDENTIAL_KEY", "AccessGuard", "HostGuard", "OriginGuard"]

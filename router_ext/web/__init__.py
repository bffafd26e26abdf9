"""The HTTP adapter: Starlette routes, WebSocket streams and the dashboard."""

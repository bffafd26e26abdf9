"""OpenTelemetry (OTLP) export requests translated into router-ext event rows.

Pure translation, separate from transport (as in opentelemetry-python's exporters, the other
way round): :mod:`decode` turns OTLP/HTTP bodies into request messages; :mod:`logs`,
:mod:`metrics` and :mod:`traces` turn request messages into rows and count what they refuse;
:mod:`claude` knows what Claude Code's own records must carry. :mod:`signals` is the one
function both receivers call (router_ext/grpc/otlp.py, router_ext/web/otlp.py).
"""

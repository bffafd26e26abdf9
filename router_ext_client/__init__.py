"""The reporting client: retrying sends, the spool, the emitter and usage parsing.

Standard library only on the hook path (tenacity and gRPC load only when needed); it imports
nothing of the server, which may import it.
"""

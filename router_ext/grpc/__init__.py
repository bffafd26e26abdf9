"""The gRPC adapter: ingest, streams, queries, health and reflection on one grpc.aio server."""

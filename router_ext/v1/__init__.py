"""Generated protobuf and gRPC code for router_ext.v1 (regenerate with `make proto`)."""

"""An error's gRPC metadata is always printable ASCII, whatever the field it names."""

from __future__ import annotations

from router_ext.errors import InvalidInput


def test_field_with_control_and_non_ascii_characters_is_escaped() -> None:
    error = InvalidInput("bad", field="payload_json.\x1f.é")
    assert error.grpc_metadata() == (("router-ext-error", error.kind),
                                     ("router-ext-field", "payload_json.\\u001f.\\u00e9"))


def test_plain_field_is_unchanged() -> None:
    error = InvalidInput("bad", field="events[2].payload_json")
    assert dict(error.grpc_metadata())["router-ext-field"] == "events[2].payload_json"

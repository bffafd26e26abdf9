"""PublishBatch's response carries one ack per event, in order, refused rows included."""

from __future__ import annotations

from router_ext.errors import Unstorable
from router_ext.grpc.ingest import _batch_response
from router_ext.store.writer import Ack


def test_acks_keep_order_duplicates_and_per_row_errors() -> None:
    acks = [Ack(7, "a", False), Ack(0, "b", False, Unstorable("the event could not be stored")),
            Ack(7, "a", True), Ack(9, "c", False)]
    response = _batch_response(acks)
    got = [(a.id, a.event_uid, a.duplicate, a.error, a.error_code) for a in response.acks]
    assert got == [(7, "a", False, "", ""),
                   (0, "b", False, "the event could not be stored", "INVALID_ARGUMENT"),
                   (7, "a", True, "", ""),
                   (9, "c", False, "", "")]

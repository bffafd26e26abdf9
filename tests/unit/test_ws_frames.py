"""The pre-encoded text frames WS /stream writes parse back, byte for byte, with websockets."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from router_ext.web.ws_frames import text_frame


def parsed(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        assert reader.at_eof(), "bytes left over after the frame"
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the frame was incomplete")


# Around each length encoding's edges: 7 bits, 16 bits, 64 bits (RFC 6455 5.2).
@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 300_000])
def test_a_text_frame_of_any_length_parses_to_the_same_text(size: int) -> None:
    text = ("é✓" * size)[:size]
    data = text.encode()
    frame = parsed(text_frame(data))
    assert (frame.opcode, frame.fin, frame.rsv1, frame.data) == (Opcode.TEXT, True, False, data)
    assert frame.data.decode() == text

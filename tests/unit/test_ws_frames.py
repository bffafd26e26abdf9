"""The pre-encoded text frames WS /stream writes parse back, byte for byte, with websockets;
which connections get permessage-deflate offered."""

from __future__ import annotations

import pytest
from websockets.datastructures import Headers
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from router_ext.settings import SettingError, Settings
from router_ext.web.ws_frames import direct_local, text_frame


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


# ROUTER_EXT_WS_COMPRESSION=auto: no permessage-deflate for a viewer on this machine that came
# through no proxy; a proxy may be serving it across a network, so it keeps compression.
@pytest.mark.parametrize(("client", "headers", "local"), [
    (("127.0.0.1", 50000), {}, True),
    (("127.3.4.5", 50000), {}, True),
    (("::1", 50000), {}, True),
    (("::ffff:127.0.0.1", 50000), {}, True),
    (("::ffff:192.0.2.10", 50000), {}, False),
    (None, {}, True),  # a Unix socket
    (("192.0.2.10", 50000), {}, False),
    (("2001:db8::1", 50000), {}, False),
    (("fe80::1%eth0", 50000), {}, False),
    (("not-an-address", 50000), {}, False),
    (("127.0.0.1", 50000), {"X-Forwarded-For": "198.51.100.7"}, False),
    (("127.0.0.1", 50000), {"forwarded": "for=198.51.100.7"}, False),
    (("::1", 50000), {"X-Real-IP": "198.51.100.7"}, False),
])
def test_only_direct_local_clients_skip_compression(
        client: tuple[str, int] | None, headers: dict[str, str], local: bool) -> None:
    assert direct_local(client, Headers(headers)) is local


@pytest.mark.parametrize(("raw", "mode"), [
    ("auto", "auto"), ("AUTO", "auto"), ("1", "on"), ("on", "on"), ("true", "on"),
    ("0", "off"), ("off", "off"), ("False", "off")])
def test_the_compression_setting_reads_auto_on_and_off(raw: str, mode: str) -> None:
    assert Settings.from_env({"ROUTER_EXT_WS_COMPRESSION": raw}).ws_compression == mode
    assert Settings.from_env({}).ws_compression == "auto"


def test_a_wrong_compression_word_is_named() -> None:
    with pytest.raises(SettingError, match="ROUTER_EXT_WS_COMPRESSION must be auto, on or off"):
        Settings.from_env({"ROUTER_EXT_WS_COMPRESSION": "sometimes"})

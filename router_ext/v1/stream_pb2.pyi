from router_ext.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubscribeRequest(_message.Message):
    __slots__ = ("filter", "after_id", "include_updates", "max_batch")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_UPDATES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    filter: _types_pb2.EventFilter
    after_id: int
    include_updates: bool
    max_batch: int
    def __init__(self, filter: _Optional[_Union[_types_pb2.EventFilter, _Mapping]] = ..., after_id: _Optional[int] = ..., include_updates: _Optional[bool] = ..., max_batch: _Optional[int] = ...) -> None: ...

class StreamMessage(_message.Message):
    __slots__ = ("event", "update", "heartbeat", "batch")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    event: _types_pb2.Event
    update: _types_pb2.Event
    heartbeat: Heartbeat
    batch: EventBatch
    def __init__(self, event: _Optional[_Union[_types_pb2.Event, _Mapping]] = ..., update: _Optional[_Union[_types_pb2.Event, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., batch: _Optional[_Union[EventBatch, _Mapping]] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_types_pb2.Event]
    def __init__(self, events: _Optional[_Iterable[_Union[_types_pb2.Event, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("last_id",)
    LAST_ID_FIELD_NUMBER: _ClassVar[int]
    last_id: int
    def __init__(self, last_id: _Optional[int] = ...) -> None: ...

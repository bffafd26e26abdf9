from router_ext.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListEventsRequest(_message.Message):
    __slots__ = ("filter", "limit", "before_id", "after_id")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    filter: _types_pb2.EventFilter
    limit: int
    before_id: int
    after_id: int
    def __init__(self, filter: _Optional[_Union[_types_pb2.EventFilter, _Mapping]] = ..., limit: _Optional[int] = ..., before_id: _Optional[int] = ..., after_id: _Optional[int] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_before_id")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_BEFORE_ID_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_types_pb2.Event]
    next_before_id: int
    def __init__(self, events: _Optional[_Iterable[_Union[_types_pb2.Event, _Mapping]]] = ..., next_before_id: _Optional[int] = ...) -> None: ...

class GetFilterOptionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FilterOptions(_message.Message):
    __slots__ = ("source_apps", "session_ids", "hook_event_types")
    SOURCE_APPS_FIELD_NUMBER: _ClassVar[int]
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    HOOK_EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    source_apps: _containers.RepeatedScalarFieldContainer[str]
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    hook_event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, source_apps: _Optional[_Iterable[str]] = ..., session_ids: _Optional[_Iterable[str]] = ..., hook_event_types: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("source", "project", "label", "status", "limit", "started_before_ms")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTED_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    source: str
    project: str
    label: str
    status: str
    limit: int
    started_before_ms: int
    def __init__(self, source: _Optional[str] = ..., project: _Optional[str] = ..., label: _Optional[str] = ..., status: _Optional[str] = ..., limit: _Optional[int] = ..., started_before_ms: _Optional[int] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions",)
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[_types_pb2.Session]
    def __init__(self, sessions: _Optional[_Iterable[_Union[_types_pb2.Session, _Mapping]]] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

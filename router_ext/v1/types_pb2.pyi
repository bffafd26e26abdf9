from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HumanInTheLoop(_message.Message):
    __slots__ = ("question", "type", "choices", "timeout_seconds", "response_websocket_url", "requires_response")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CHOICES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_WEBSOCKET_URL_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    question: str
    type: str
    choices: _containers.RepeatedScalarFieldContainer[str]
    timeout_seconds: float
    response_websocket_url: str
    requires_response: bool
    def __init__(self, question: _Optional[str] = ..., type: _Optional[str] = ..., choices: _Optional[_Iterable[str]] = ..., timeout_seconds: _Optional[float] = ..., response_websocket_url: _Optional[str] = ..., requires_response: _Optional[bool] = ...) -> None: ...

class HumanInTheLoopStatus(_message.Message):
    __slots__ = ("status", "response_json", "responded_by", "responded_at_ms", "delivery", "delivery_error")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_JSON_FIELD_NUMBER: _ClassVar[int]
    RESPONDED_BY_FIELD_NUMBER: _ClassVar[int]
    RESPONDED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ERROR_FIELD_NUMBER: _ClassVar[int]
    status: str
    response_json: str
    responded_by: str
    responded_at_ms: int
    delivery: str
    delivery_error: str
    def __init__(self, status: _Optional[str] = ..., response_json: _Optional[str] = ..., responded_by: _Optional[str] = ..., responded_at_ms: _Optional[int] = ..., delivery: _Optional[str] = ..., delivery_error: _Optional[str] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("id", "event_uid", "source_app", "session_id", "hook_event_type", "payload_json", "timestamp_ms", "model_name", "host", "agent_id", "tool_name", "tool_use_id", "summary", "chat_json", "human_in_the_loop", "human_in_the_loop_status")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_UID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_APP_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    HOOK_EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_USE_ID_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CHAT_JSON_FIELD_NUMBER: _ClassVar[int]
    HUMAN_IN_THE_LOOP_FIELD_NUMBER: _ClassVar[int]
    HUMAN_IN_THE_LOOP_STATUS_FIELD_NUMBER: _ClassVar[int]
    id: int
    event_uid: str
    source_app: str
    session_id: str
    hook_event_type: str
    payload_json: str
    timestamp_ms: int
    model_name: str
    host: str
    agent_id: str
    tool_name: str
    tool_use_id: str
    summary: str
    chat_json: str
    human_in_the_loop: HumanInTheLoop
    human_in_the_loop_status: HumanInTheLoopStatus
    def __init__(self, id: _Optional[int] = ..., event_uid: _Optional[str] = ..., source_app: _Optional[str] = ..., session_id: _Optional[str] = ..., hook_event_type: _Optional[str] = ..., payload_json: _Optional[str] = ..., timestamp_ms: _Optional[int] = ..., model_name: _Optional[str] = ..., host: _Optional[str] = ..., agent_id: _Optional[str] = ..., tool_name: _Optional[str] = ..., tool_use_id: _Optional[str] = ..., summary: _Optional[str] = ..., chat_json: _Optional[str] = ..., human_in_the_loop: _Optional[_Union[HumanInTheLoop, _Mapping]] = ..., human_in_the_loop_status: _Optional[_Union[HumanInTheLoopStatus, _Mapping]] = ...) -> None: ...

class TokenUsage(_message.Message):
    __slots__ = ("input", "output", "cache_read", "cache_creation")
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_FIELD_NUMBER: _ClassVar[int]
    input: int
    output: int
    cache_read: int
    cache_creation: int
    def __init__(self, input: _Optional[int] = ..., output: _Optional[int] = ..., cache_read: _Optional[int] = ..., cache_creation: _Optional[int] = ...) -> None: ...

class HarnessMetric(_message.Message):
    __slots__ = ("event_uid", "source", "event", "label", "task_id", "task_title", "duration_ms", "success", "error", "exit_code", "num_turns", "model", "tokens", "cost_usd", "claude_session_id", "project", "timestamp_ms", "completed_tasks", "failed_tasks", "host", "session_id", "extra_json")
    EVENT_UID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TITLE_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    NUM_TURNS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CLAUDE_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    FAILED_TASKS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRA_JSON_FIELD_NUMBER: _ClassVar[int]
    event_uid: str
    source: str
    event: str
    label: str
    task_id: str
    task_title: str
    duration_ms: int
    success: bool
    error: str
    exit_code: int
    num_turns: int
    model: str
    tokens: TokenUsage
    cost_usd: float
    claude_session_id: str
    project: str
    timestamp_ms: int
    completed_tasks: int
    failed_tasks: int
    host: str
    session_id: str
    extra_json: str
    def __init__(self, event_uid: _Optional[str] = ..., source: _Optional[str] = ..., event: _Optional[str] = ..., label: _Optional[str] = ..., task_id: _Optional[str] = ..., task_title: _Optional[str] = ..., duration_ms: _Optional[int] = ..., success: _Optional[bool] = ..., error: _Optional[str] = ..., exit_code: _Optional[int] = ..., num_turns: _Optional[int] = ..., model: _Optional[str] = ..., tokens: _Optional[_Union[TokenUsage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., claude_session_id: _Optional[str] = ..., project: _Optional[str] = ..., timestamp_ms: _Optional[int] = ..., completed_tasks: _Optional[int] = ..., failed_tasks: _Optional[int] = ..., host: _Optional[str] = ..., session_id: _Optional[str] = ..., extra_json: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "source", "project", "label", "task_id", "started_at_ms", "completed_at_ms", "duration_ms", "status", "success", "error", "tool_calls_count", "model", "tokens", "cost_usd", "num_turns", "claude_session_id", "source_app", "last_event_at_ms", "task_title", "tool_failures_count", "prompts_count", "subagents_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_COUNT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    NUM_TURNS_FIELD_NUMBER: _ClassVar[int]
    CLAUDE_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_APP_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    TASK_TITLE_FIELD_NUMBER: _ClassVar[int]
    TOOL_FAILURES_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROMPTS_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUBAGENTS_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    project: str
    label: str
    task_id: str
    started_at_ms: int
    completed_at_ms: int
    duration_ms: int
    status: str
    success: bool
    error: str
    tool_calls_count: int
    model: str
    tokens: TokenUsage
    cost_usd: float
    num_turns: int
    claude_session_id: str
    source_app: str
    last_event_at_ms: int
    task_title: str
    tool_failures_count: int
    prompts_count: int
    subagents_count: int
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., project: _Optional[str] = ..., label: _Optional[str] = ..., task_id: _Optional[str] = ..., started_at_ms: _Optional[int] = ..., completed_at_ms: _Optional[int] = ..., duration_ms: _Optional[int] = ..., status: _Optional[str] = ..., success: _Optional[bool] = ..., error: _Optional[str] = ..., tool_calls_count: _Optional[int] = ..., model: _Optional[str] = ..., tokens: _Optional[_Union[TokenUsage, _Mapping]] = ..., cost_usd: _Optional[float] = ..., num_turns: _Optional[int] = ..., claude_session_id: _Optional[str] = ..., source_app: _Optional[str] = ..., last_event_at_ms: _Optional[int] = ..., task_title: _Optional[str] = ..., tool_failures_count: _Optional[int] = ..., prompts_count: _Optional[int] = ..., subagents_count: _Optional[int] = ...) -> None: ...

class EventFilter(_message.Message):
    __slots__ = ("source_apps", "session_ids", "hook_event_types")
    SOURCE_APPS_FIELD_NUMBER: _ClassVar[int]
    SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    HOOK_EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    source_apps: _containers.RepeatedScalarFieldContainer[str]
    session_ids: _containers.RepeatedScalarFieldContainer[str]
    hook_event_types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, source_apps: _Optional[_Iterable[str]] = ..., session_ids: _Optional[_Iterable[str]] = ..., hook_event_types: _Optional[_Iterable[str]] = ...) -> None: ...

"""What a record's resource (and its own attributes) say about who sent it and from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from router_ext.otlp.values import attributes, text

CLAUDE_CODE_SERVICE = "claude-code"
CLAUDE_CODE_SCOPE = "com.anthropic.claude_code"
CLAUDE_CODE_PREFIX = "claude_code."
DEFAULT_SOURCE = "otlp"
# Where a project's name may come from, first match wins: `hooks install --otel` writes the
# first into OTEL_RESOURCE_ATTRIBUTES; the others are common conventions.
PROJECT_KEYS = ("router_ext.project", "project", "project.name", "vcs.repository.name")
# Attribution kept on sessions: column -> attribute keys, first match wins.
ATTRIBUTION = {
    "user_email": ("user.email",),
    "user_account_uuid": ("user.account_uuid", "user.account_id"),
    "organization_id": ("organization.id",),
    "host": ("host.name", "host.id"),
    "terminal": ("terminal.type",),
}


@dataclass(frozen=True, slots=True)
class Sender:
    """One resource: the service that sent records, and its attributes."""

    attrs: dict[str, Any]
    source_app: str
    service: str

    @classmethod
    def of(cls, resource: Resource, override: str = "") -> Sender:
        """The sender of a resource; `override` replaces service.name as source_app."""
        attrs = attributes(resource.attributes)
        service = text(attrs.get("service.name")) or DEFAULT_SOURCE
        return cls(attrs, override or service, service)

    def is_claude_code(self, scope_name: str = "") -> bool:
        """True when Claude Code itself sent these records."""
        return self.service == CLAUDE_CODE_SERVICE or scope_name.startswith(CLAUDE_CODE_SCOPE)

    def lookup(self, record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
        """The first of `keys` set on the record, else on the resource."""
        for source in (record, self.attrs):
            for key in keys:
                value = source.get(key)
                if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
                    return str(value)
        return None


def attribution(resource: dict[str, Any], record: dict[str, Any]) -> dict[str, str]:
    """The session columns an OTLP record names: user, organization, host, terminal, project."""
    out: dict[str, str] = {}
    for column, keys in (*ATTRIBUTION.items(), ("project", PROJECT_KEYS)):
        for key in keys:  # the record's own attribute first, then its resource's
            value = record.get(key) or resource.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                out[column] = str(value)
                break
    return out

"""A minimal HTTP/1.1 responder for client services (RFC 9112 message
syntax, RFC 9110 semantics): GET and HEAD of a fixed set of documents, one
request per connection. Pure functions: bytes in, bytes out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Mapping
from urllib.parse import unquote

MAX_HEAD = 8192  # request line and headers, bytes: a profile request needs far less
MAX_HEADERS = 64
HEAD_END = b"\r\n\r\n"

# token and request-target as RFC 9110 §5.6.2 / RFC 9112 §3.2 allow (origin-form and "*")
_METHOD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(rb"(/[\x21-\x7e]*|\*)")
_VERSION = re.compile(rb"HTTP/1\.[0-9]")
_FIELD_NAME = _METHOD

REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large",
           505: "HTTP Version Not Supported"}


class HttpError(Exception):
    """A request we answer with an error status and close."""

    def __init__(self, status: int) -> None:
        super().__init__(f"{status} {REASONS[status]}")
        self.status = status


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def path(self) -> str:
        """The target without its query, percent-decoded."""
        return unquote(self.target.split("?", 1)[0])


@dataclass(frozen=True)
class Resource:
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def parse_head(head: bytes) -> Request:
    """Parse a request line and header fields ending in an empty line."""
    if len(head) > MAX_HEAD:
        raise HttpError(431)
    if not head.endswith(HEAD_END):
        raise HttpError(400)
    lines = head[: -len(HEAD_END)].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise HttpError(400)
    method, target, version = parts
    if not _METHOD.fullmatch(method) or not _TARGET.fullmatch(target):
        raise HttpError(400)
    if not _VERSION.fullmatch(version):
        raise HttpError(505 if version.startswith(b"HTTP/") else 400)
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        # no obsolete line folding, no space before the colon (RFC 9112 §5.1, §5.2)
        if not sep or not _FIELD_NAME.fullmatch(name):
            raise HttpError(400)
        headers[name.decode("ascii").lower()] = value.strip(b" \t").decode("latin-1")
    return Request(method.decode("ascii"), target.decode("ascii"), version.decode("ascii"), headers)


def respond(request: Request, site: Mapping[str, Resource]) -> Response:
    if request.method not in ("GET", "HEAD"):
        return error(405, {"Allow": "GET, HEAD"})
    if request.version == "HTTP/1.1" and "host" not in request.headers:
        return error(400)  # RFC 9112 §3.2: a 1.1 request without Host is invalid
    resource = site.get(request.path)
    if resource is None:
        return error(404)
    return Response(200, resource.body, {"Content-Type": resource.content_type, "Cache-Control": "no-store"})


def error(status: int, headers: dict[str, str] | None = None) -> Response:
    body = f"{status} {REASONS[status]}\n".encode()
    return Response(status, body, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


def serialize(response: Response, *, head_only: bool = False, now: float | None = None) -> bytes:
    """The response bytes; `head_only` for HEAD (same headers, no body)."""
    fields = {
        "Date": formatdate(now, usegmt=True),
        **response.headers,
        "Content-Length": str(len(response.body)),
        "Connection": "close",  # one request per connection keeps the bounds simple
        "X-Content-Type-Options": "nosniff",
    }
    head = f"HTTP/1.1 {response.status} {REASONS[response.status]}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
    return head.encode("latin-1") + (b"" if head_only else response.body)

"""How a record is written: a local line (console, file), an RFC 3164 or
RFC 5424 syslog message, and RFC 6587 octet counting for TCP.

Every form carries the FTD's own `%FTD-<sev>-<id>: <text>`, so a parser
written for an FTD finds it whatever the framing. Times are UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .catalogue import Record

FACILITY_LOCAL4 = 20  # the FTD's default logging facility (<166> = local4.info)
APP_NAME = "ikev2d"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def priority(record: Record, facility: int = FACILITY_LOCAL4) -> int:
    return facility * 8 + record.severity


def local_line(record: Record, hostname: str, when: datetime) -> str:
    """`Oct 08 2021 07:40:28 FTDv-1 : %FTD-5-750002: ...`, the form of an
    FTD's buffer with `logging timestamp` and the host name as device ID."""
    t = when.astimezone(timezone.utc)
    return f"{_MONTHS[t.month - 1]} {t:%d %Y %H:%M:%S} {hostname} : {record.line()}"


def rfc3164(record: Record, hostname: str, when: datetime, facility: int = FACILITY_LOCAL4) -> bytes:
    """`<166>Oct  8 07:40:28 FTDv-1 %FTD-6-113008: ...` (RFC 3164 §4.1: the
    day space-padded, no year; the tag is the FTD's message tag)."""
    t = when.astimezone(timezone.utc)
    stamp = f"{_MONTHS[t.month - 1]} {t.day:2d} {t:%H:%M:%S}"
    return f"<{priority(record, facility)}>{stamp} {hostname} {record.line()}".encode()


def rfc5424(record: Record, hostname: str, when: datetime, facility: int = FACILITY_LOCAL4) -> bytes:
    """`<166>1 2021-10-08T07:40:28.000Z FTDv-1 ikev2d - 113008 - %FTD-6-113008: ...`

    MSGID is the message ID, so a collector can select on it; no structured
    data. (An ASA's `logging timestamp rfc5424` only changes the time stamp
    of its legacy form; this is the standard message.)
    """
    t = when.astimezone(timezone.utc)
    stamp = f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"
    header = f"<{priority(record, facility)}>1 {stamp} {_nil(hostname)} {APP_NAME} - {record.id} -"
    return f"{header} {record.line()}".encode()


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`, so a message may hold any byte."""
    return b"%d %s" % (len(message), message)


def _nil(value: str) -> str:
    # RFC 5424 §6: header fields are printable ASCII without spaces, or "-"
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)
    return cleaned[:255] or "-"

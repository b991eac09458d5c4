"""Framing of one record: the local line, RFC 3164, RFC 5424, and RFC 6587
octet counting (parsed back here by an independent reader)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from ikev2d.syslog.catalogue import Record
from ikev2d.syslog.framing import local_line, octet_counted, priority, rfc3164, rfc5424

WHEN = datetime(2021, 10, 8, 7, 40, 28, 123456, tzinfo=timezone.utc)
AAA = Record(113008, 6, "AAA transaction status ACCEPT : user = adm-marin")
WARN = Record(113019, 4, "Group = GP, Username = u, IP = 1.2.3.4, Session disconnected.")


def test_priority_is_local4_and_severity() -> None:
    assert priority(AAA) == 166  # the <166> of FTD samples: local4.info
    assert priority(WARN) == 164
    assert priority(AAA, facility=23) == 190


def test_local_line() -> None:
    assert local_line(AAA, "FTDv-1", WHEN) == (
        "Oct 08 2021 07:40:28 FTDv-1 : %FTD-6-113008: AAA transaction status ACCEPT : user = adm-marin")


def test_rfc3164() -> None:
    assert rfc3164(AAA, "FTDv-1", WHEN) == (
        b"<166>Oct  8 07:40:28 FTDv-1 %FTD-6-113008: AAA transaction status ACCEPT : user = adm-marin")
    # two-digit days are not padded; other time zones are shown in UTC
    later = datetime(2021, 12, 24, 23, 5, 1, tzinfo=timezone(timedelta(hours=-2)))
    assert rfc3164(WARN, "gw", later).startswith(b"<164>Dec 25 01:05:01 gw %FTD-4-113019: ")


RFC5424 = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<host>\S+) (?P<app>\S+) "
    rb"(?P<procid>\S+) (?P<msgid>\S+) (?P<sd>-|\[.*\]) (?P<msg>.*)\Z", re.S)


def test_rfc5424_header_fields() -> None:
    frame = rfc5424(AAA, "FTDv-1", WHEN)
    assert frame == (b"<166>1 2021-10-08T07:40:28.123Z FTDv-1 ikev2d - 113008 - "
                     b"%FTD-6-113008: AAA transaction status ACCEPT : user = adm-marin")
    m = RFC5424.match(frame)
    assert m is not None
    assert m["msgid"] == b"113008" and m["sd"] == b"-"


def test_rfc5424_hostname_is_printable_ascii_or_nil() -> None:
    assert RFC5424.match(rfc5424(AAA, "my host", WHEN))["host"] == b"myhost"  # type: ignore[index]
    assert RFC5424.match(rfc5424(AAA, "", WHEN))["host"] == b"-"  # type: ignore[index]


def split_octet_counted(stream: bytes) -> list[bytes]:
    """RFC 6587 §3.4.1 reader: MSG-LEN SP MSG, repeated."""
    out = []
    while stream:
        length, _, rest = stream.partition(b" ")
        n = int(length)
        assert len(rest) >= n
        out.append(rest[:n])
        stream = rest[n:]
    return out


def test_octet_counting() -> None:
    assert octet_counted(b"<166>1 x") == b"8 <166>1 x"


@given(st.lists(st.text(max_size=200), max_size=8))
def test_octet_counted_stream_splits_back(texts: list[str]) -> None:
    # any text, newlines and non-ASCII included: the length, not a
    # delimiter, ends each message
    frames = [rfc5424(Record(113008, 6, t), "FTDv-1", WHEN) for t in texts]
    assert split_octet_counted(b"".join(octet_counted(f) for f in frames)) == frames

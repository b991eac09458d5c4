"""A blocking netlink request/response channel that speaks pyroute2 messages.

Why not pyroute2's own NetlinkSocket: in 0.9 its synchronous API drives a
private asyncio loop with run_until_complete, which raises inside a running
loop, and ikev2d installs SAs from its event loop. A plain AF_NETLINK socket
is enough for request/ack and dumps; pyroute2's classes still encode and
decode every message.

Error acks are capped (NETLINK_CAP_ACK) so the kernel does not echo a
request, keys included, back to us.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
from typing import Iterator, Mapping

from pyroute2.netlink import nlmsg

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSGERR_ATTR_MSG = 1

SOL_NETLINK = 270
NETLINK_EXT_ACK = 11
NETLINK_CAP_ACK = 10

_HDR = struct.Struct("=IHHII")


class NetlinkError(OSError):
    """The kernel refused a request: errno plus its extended-ack text, if any."""

    def __init__(self, code: int, detail: str = "") -> None:
        text = os.strerror(code) + (f" ({detail})" if detail else "")
        super().__init__(code, text)
        self.detail = detail

    @property
    def name(self) -> str:
        return errno.errorcode.get(self.errno or 0, str(self.errno))


def _ack_detail(data: bytes, offset: int, length: int, flags: int) -> str:
    """The NLMSGERR_ATTR_MSG text of an extended ack."""
    if not flags & NLM_F_ACK_TLVS:
        return ""
    # struct nlmsgerr: int error, then the echoed header (capped) or message
    (echo_len,) = struct.unpack_from("=I", data, offset + 20)
    pos = offset + 20 + (16 if flags & NLM_F_CAPPED else echo_len)
    end = offset + length
    while pos + 4 <= end:
        alen, atype = struct.unpack_from("=HH", data, pos)
        if alen < 4:
            break
        if atype & 0x3FFF == NLMSGERR_ATTR_MSG:
            return bytes(data[pos + 4 : pos + alen]).rstrip(b"\0").decode(errors="replace")
        pos += (alen + 3) & ~3
    return ""


def encode_request(msg: nlmsg, msg_type: int, flags: int, seq: int) -> bytes:
    """The bytes of one request (NLM_F_REQUEST added; the kernel fills our port id)."""
    msg["header"]["type"] = msg_type
    msg["header"]["flags"] = NLM_F_REQUEST | flags
    msg["header"]["sequence_number"] = seq
    msg["header"]["pid"] = 0
    msg.reset()
    msg.encode()
    return bytes(msg.data)


class NetlinkChannel:
    """One netlink socket of `family`; `classes` map message types to the
    pyroute2 classes that decode them. `groups` subscribes to multicast."""

    def __init__(self, family: int, classes: Mapping[int, type[nlmsg]], groups: int = 0,
                 timeout: float | None = 5.0) -> None:
        self.classes = dict(classes)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, family)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            for opt in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
                try:
                    self.sock.setsockopt(SOL_NETLINK, opt, 1)
                except OSError:  # older kernels: plain acks still work
                    pass
            self.sock.bind((0, groups))
            self.sock.settimeout(timeout)
        except BaseException:
            self.sock.close()
            raise
        self._seq = 0
        self._lock = threading.Lock()

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "NetlinkChannel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------

    def request(self, msg: nlmsg, msg_type: int, flags: int = NLM_F_ACK) -> list[nlmsg]:
        """Send one request and return what came back before its ack or
        NLMSG_DONE. Raises NetlinkError on an error ack."""
        with self._lock:
            self._seq = (self._seq % 0x7FFFFFFF) + 1
            self.sock.send(encode_request(msg, msg_type, flags, self._seq))
            return self._collect(self._seq)

    def dump(self, msg: nlmsg, msg_type: int) -> list[nlmsg]:
        return self.request(msg, msg_type, NLM_F_DUMP)

    def _collect(self, seq: int) -> list[nlmsg]:
        out: list[nlmsg] = []
        while True:
            data = self.sock.recv(1 << 18)
            for mtype, flags, mseq, offset, length in self._headers(data):
                if mseq != seq:
                    continue  # a stale answer to an earlier, abandoned request
                if mtype == NLMSG_DONE:
                    return out
                if mtype == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", data, offset + 16)
                    if err:
                        raise NetlinkError(-err, _ack_detail(data, offset, length, flags))
                    return out
                if mtype == NLMSG_NOOP:
                    continue
                out.append(self._decode(data, mtype, offset, length))

    # -- parsing -----------------------------------------------------------

    @staticmethod
    def _headers(data: bytes) -> Iterator[tuple[int, int, int, int, int]]:
        offset = 0
        while offset + 16 <= len(data):
            length, mtype, flags, mseq, _pid = _HDR.unpack_from(data, offset)
            if length < 16 or offset + length > len(data):
                return
            yield mtype, flags, mseq, offset, length
            offset += (length + 3) & ~3

    def _decode(self, data: bytes, mtype: int, offset: int, length: int) -> nlmsg:
        cls = self.classes.get(mtype, nlmsg)
        msg = cls(bytes(data[offset : offset + length]))
        msg.decode()
        return msg

    def receive(self) -> list[nlmsg]:
        """Read one datagram of multicast messages (for subscribers)."""
        data = self.sock.recv(1 << 18)
        return [self._decode(data, mtype, offset, length)
                for mtype, _flags, _seq, offset, length in self._headers(data)
                if mtype not in (NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP)]

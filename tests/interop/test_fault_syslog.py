"""A syslog server that is down, refuses TCP, or goes away mid-stream
(issue 7, point 5), with a real rsyslogd (lab/rsyslog.py) stopped and
started again under a running ikev2d that sends to it over UDP and TCP.

- rsyslogd down at start: UDP draws ICMP port unreachable, TCP is refused;
  each is reported once, and clients connect all the same;
- rsyslogd started: TCP reconnects (back-off) and delivers what waited;
- rsyslogd stopped mid-stream: the TCP loss is noticed and reported, what
  is logged meanwhile waits (bounded) and arrives after the next restart;
- a client connects at the end and ikev2d is healthy.
"""

from __future__ import annotations

import time

import pytest

from lab.ikev2d import Ikev2d
from lab.netns import Topology
from lab.rsyslog import Rsyslog
from lab.swanctl_conf import DEFAULT_USERS

from .checks import assert_connected, assert_healthy, assert_initiated, tail
from .conftest import StartCharon, StartIkev2d, StartRsyslog

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

TCP_PORT = 1470


def wait_until(what: str, check, timeout: float = 30.0, show: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s\n{show}"
        time.sleep(0.2)


def in_log(server: Ikev2d, text: str, timeout: float = 30.0) -> None:
    wait_until(f"ikev2d never logged {text!r}", lambda: text in server.log(), timeout,
               show=tail(server.log()))


def received_tcp(rsyslog: Rsyslog, ftd: str) -> bool:
    # the TCP copy: rsyslog records both; RFC 3164 over TCP (no MSGID) tells them apart
    return any(r.msgid in ("", "-") and ftd in r.ftd for r in rsyslog.received())


def test_rsyslog_down_refusing_and_going_away(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon, rsyslog_server: StartRsyslog
) -> None:
    address = topology.client_addrs[-1]
    rsyslog = rsyslog_server(topology.clients[-1], address, 514, TCP_PORT)
    rsyslog.stop()  # down before ikev2d starts

    def edit(cfg: dict) -> None:  # type: ignore[type-arg]
        cfg["logging"]["syslog_servers"] = [
            {"host": address, "port": 514, "protocol": "udp", "format": "rfc5424"},
            {"host": address, "port": TCP_PORT, "protocol": "tcp", "format": "rfc3164"}]

    server = ikev2d_server(logging_level="informational", edit=edit)
    alice = client(0)
    assert_initiated(alice.initiate(), alice)
    assert_connected(alice)
    in_log(server, f"syslog server tcp/{address}:{TCP_PORT}: cannot connect: Connection refused; reconnecting "
                   "with back-off")
    in_log(server, f"syslog server udp/{address}:514: Connection refused (ICMP error); messages to it are lost")

    rsyslog.start()
    in_log(server, f"syslog server tcp/{address}:{TCP_PORT} delivering again")
    # what waited in the queue arrives: alice's session coming up
    wait_until("alice's SA UP over TCP", lambda: received_tcp(rsyslog, "Username:alice IKEv2 SA UP"),
               timeout=10, show=rsyslog.text())

    rsyslog.stop()  # mid-stream
    in_log(server, f"syslog server tcp/{address}:{TCP_PORT}: connection lost: the server closed the connection",
           timeout=10)
    assert alice.terminate().ok  # logged while the server is away
    bob = client(1, identity="bob", password=DEFAULT_USERS["bob"])
    assert_initiated(bob.initiate(), bob)
    assert_connected(bob, identity="bob")

    rsyslog.start()
    wait_until("what waited during the outage", lambda: received_tcp(rsyslog, "Username:alice IKEv2 SA DOWN")
               and received_tcp(rsyslog, "Username:bob IKEv2 SA UP"), timeout=40, show=rsyslog.text())

    carol = client(2)  # and one more at the end, with the server back
    assert_initiated(carol.initiate(), carol)
    assert_connected(carol)
    log = server.log()
    # reported, not once per message: a handful of lines for dozens of messages
    assert log.count(f"syslog server tcp/{address}:{TCP_PORT}") <= 6, tail(log)
    assert log.count(f"syslog server udp/{address}:514") <= 3, tail(log)
    assert_healthy(server)

"""The userspace data plane in worker processes (`--dataplane-workers 2`,
issue 11 point 4) carries real strongSwan clients' traffic.

Two clients (kernel-libipsec, ESP in UDP 4500) connect to ikev2d with
``--dataplane userspace --dataplane-workers 2``: both ping through the
tunnel; ikev2d runs two worker processes with a TUN device each; each
Child SA pair sits in worker ``spi_in % 2`` and its ESP reaches it through
the port-4500 reuseport group while IKE still reaches the daemon (both
clients' IKE works after ESP flowed: a DPD-like liveness check by
terminating one); the counters logged at removal come from the worker.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from lab.netns import Topology
from lab.process import poll_until

from .checks import assert_healthy, ping, tail
from .conftest import StartCharon, StartIkev2d
from .test_dataplane_userspace import REMOVED, connect

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]


def test_two_workers_carry_two_clients_and_report_their_counters(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    server = ikev2d_server("--dataplane", "userspace", "--dataplane-workers", "2")
    assert "dataplane userspace: chosen with --dataplane userspace (2 worker processes" in server.log()
    links = topology.gateway.run(["ip", "-o", "link", "show"]).stdout
    assert "ikev2d0w0" in links and "ikev2d0w1" in links, links

    alice, _ = connect(client)
    bob = client(1, identity="bob", password="Lab-Passw0rd-2")
    bob.initiate()
    charons = [alice, bob]
    for index, _charon in enumerate(charons):
        result = ping(topology.clients[index], 5)
        assert result.returncode == 0 and " 0% packet loss" in result.stdout, (
            f"client {index}: ping through the tunnel failed:\n{result.stdout}{result.stderr}\n"
            f"--- ikev2d:\n{tail(server.log())}")

    spis = [int(c.list_sas()[0].children[0].spi_out, 16) for c in charons]  # ikev2d's inbound SPIs
    assert spis[0] % 2 != spis[1] % 2, [hex(s) for s in spis]  # the second pair went to the emptier worker
    for spi in spis:  # each pair in worker spi % 2, routed to that worker's TUN device
        # the worker's own log line, through the daemon's logging: its format, the worker named
        assert re.search(rf"^\S+ \S+ esp\.userspace INFO data-plane worker {spi % 2}: Child SA 0x{spi:08x}/",
                         server.log(), re.M), tail(server.log())
        assert re.search(rf"Child SA 0x{spi:08x}/\S+ of .+ installed: \S+ via ikev2d0w{spi % 2},", server.log())
    for charon in charons:  # IKE still reaches the daemon: the Deletes are answered
        charon.terminate()
    deadline = time.monotonic() + 10
    while len(REMOVED.findall(server.log())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    removed = {int(m["spi_in"], 16): m for m in REMOVED.finditer(server.log())}
    assert set(spis) <= set(removed), f"ikev2d logged no counters for {spis}:\n{tail(server.log())}"
    for spi in spis:
        m = removed[spi]
        assert int(m["pin"]) >= 5 and int(m["pout"]) >= 5, m.group(0)  # the pings, counted in the worker
        assert (int(m["replay"]), int(m["integ"])) == (0, 0), m.group(0)
    for charon in charons:
        assert charon.list_sas() == []
    assert_healthy(server)


def test_a_rekeyed_pair_moving_to_the_other_worker_takes_the_traffic_along(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    """The new pair's SPI decides its worker; rekeys until one lands in the
    other worker (each does with probability 1/2), pinging after each: the
    client's route moves to the new worker's TUN, the old pair's removal
    there leaves it alone."""
    server = ikev2d_server("--dataplane", "userspace", "--dataplane-workers", "2")
    alice, _ = connect(client)
    ns = topology.clients[0]
    assert ping(ns, 2).returncode == 0
    moved = 0
    for _ in range(16):  # P(no move in 16 rekeys) = 2**-16
        old = int(alice.list_sas()[0].children[0].spi_out, 16)
        alice.swanctl("--rekey", "--child", "ftd-ra")

        def rekeyed() -> bool:
            children = [c for c in alice.list_sas()[0].children if c.state == "INSTALLED"]
            return len(children) == 1 and int(children[0].spi_out, 16) != old
        assert poll_until(rekeyed), f"no new Child SA:\n{tail(alice.log())}\n--- ikev2d:\n{tail(server.log())}"
        new = int([c for c in alice.list_sas()[0].children if c.state == "INSTALLED"][0].spi_out, 16)
        assert poll_until(lambda: re.search(rf"Child SA 0x{old:08x}/\S+ of .+ removed:", server.log()) is not None), (
            f"the old pair 0x{old:08x} was not removed:\n{tail(server.log())}")
        result = ping(ns, 2)
        assert result.returncode == 0 and " 0% packet loss" in result.stdout, (
            f"ping after a rekey from worker {old % 2} to {new % 2} failed:\n{result.stdout}\n"
            f"--- ikev2d:\n{tail(server.log())}")
        if new % 2 != old % 2:
            moved += 1
            break
    assert moved == 1
    assert_healthy(server)


def _worker_pid(server_pid: int, index: int) -> int:
    """The data-plane worker process `index` among the daemon's children."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    for child in children:
        argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if b"esp.userspace.worker" in argv and argv[argv.index(b"--index") + 1] == str(index).encode():
            return int(child)
    raise AssertionError(f"no data-plane worker {index} among {children}")


def test_a_worker_that_dies_is_replaced_and_its_clients_pair_rekeyed_into_a_live_one(
    topology: Topology, ikev2d_server: StartIkev2d, client: StartCharon
) -> None:
    """SIGKILL the worker holding alice's pair: the daemon starts another in
    its place and rekeys the pair (strongSwan answers the CREATE_CHILD_SA),
    and alice's traffic flows again, without a reconnect."""
    server = ikev2d_server("--dataplane", "userspace", "--dataplane-workers", "2")
    alice, _ = connect(client)
    ns = topology.clients[0]
    assert ping(ns, 2).returncode == 0
    [sa] = alice.list_sas()
    old = int(sa.children[0].spi_out, 16)  # ikev2d's inbound SPI: its worker is old % 2
    assert server.proc is not None
    pid = _worker_pid(server.proc.pid, old % 2)
    os.kill(pid, signal.SIGKILL)
    assert poll_until(lambda: f"data-plane worker {old % 2} (pid {pid}) died" in server.log()), tail(server.log())
    assert poll_until(lambda: f"Child SA 0x{old:08x} was lost with its data-plane worker: rekeying it"
                      in server.log()), tail(server.log())

    def rekeyed() -> bool:
        children = [c for c in alice.list_sas()[0].children if c.state == "INSTALLED"]
        return len(children) == 1 and int(children[0].spi_out, 16) != old
    assert poll_until(rekeyed, timeout=15), f"no new Child SA:\n{tail(alice.log())}\n--- ikev2d:\n{tail(server.log())}"
    assert alice.list_sas()[0].uniqueid == sa.uniqueid  # the same IKE SA: no reconnect
    result = ping(ns, 3)
    assert result.returncode == 0 and " 0% packet loss" in result.stdout, (
        f"ping after the worker's replacement failed:\n{result.stdout}\n--- ikev2d:\n{tail(server.log())}")
    assert _worker_pid(server.proc.pid, old % 2) != pid
    assert_healthy(server)

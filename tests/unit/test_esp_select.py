"""`--dataplane` choice (issue 3 §4): which back end runs and the one line
that says why; a forced kernel back end that cannot run stops start-up."""

from __future__ import annotations

import argparse

import pytest

from esp import select
from esp.dataplane import DataPlaneError, RecordingDataPlane
from esp.select import make_dataplane
from esp.userspace import UserspaceDataPlane

NO_ESP = (False, "EPROTONOSUPPORT: the kernel has no ESP")


class FakeKernel:
    name = "kernel"

    def __init__(self, replay_window: int) -> None:
        self.replay_window = replay_window


@pytest.fixture
def kernel_back_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "_kernel", FakeKernel)


def test_auto_falls_back_to_userspace_and_says_why() -> None:
    dp, line = make_dataplane("auto", probe=lambda: NO_ESP, tun_name="vpn7")
    assert isinstance(dp, UserspaceDataPlane) and dp.tun_name == "vpn7"
    assert line.startswith("dataplane userspace: ")
    assert "EPROTONOSUPPORT: the kernel has no ESP" in line
    assert "\n" not in line


def test_auto_takes_the_kernel_when_it_accepts_esp(kernel_back_end: None) -> None:
    dp, line = make_dataplane("auto", probe=lambda: (True, "the kernel accepts ESP states"), replay_window=128)
    assert isinstance(dp, FakeKernel) and dp.replay_window == 128
    assert line == "dataplane kernel: the kernel accepts ESP states"


def test_forced_kernel_without_esp_is_a_start_up_error() -> None:
    with pytest.raises(DataPlaneError, match="--dataplane kernel.*EPROTONOSUPPORT"):
        make_dataplane("kernel", probe=lambda: NO_ESP)


def test_forced_userspace_does_not_probe() -> None:
    def probe() -> tuple[bool, str]:
        raise AssertionError("probed")

    dp, line = make_dataplane("userspace", probe=probe, replay_window=0)
    assert isinstance(dp, UserspaceDataPlane) and dp.replay_window == 0
    assert line.startswith("dataplane userspace: chosen with --dataplane userspace")


def test_none_records_only() -> None:
    dp, line = make_dataplane("none")
    assert isinstance(dp, RecordingDataPlane)
    assert line.startswith("dataplane none:")


def test_unknown_mode() -> None:
    with pytest.raises(DataPlaneError, match="unknown data plane"):
        make_dataplane("dpdk")


def test_probe_that_raises_or_is_missing_reads_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import esp.kernel

    def broken() -> tuple[bool, str]:
        raise RuntimeError("netlink exploded")

    monkeypatch.setattr(esp.kernel, "probe_kernel_esp", broken)
    ok, why = select.probe_kernel()
    assert not ok and "netlink exploded" in why
    monkeypatch.delattr(esp.kernel, "probe_kernel_esp")
    ok, why = select.probe_kernel()
    assert not ok and why.startswith("kernel back end not available")


def test_auto_without_kernel_esp_serves_clients_not_behind_nat() -> None:
    """Issue 9: a client on the same LAN never asks for UDP encapsulation;
    the plane `auto` falls back to must carry its plain ESP."""
    import asyncio
    from dataclasses import replace

    from test_esp_dataplane import FakeRawSocket, FakeRoutes, FakeSocket, FakeTun, child_spec

    dp, line = make_dataplane("auto", probe=lambda: NO_ESP)
    assert isinstance(dp, UserspaceDataPlane) and "plain and in UDP" in line
    dp._make_device, dp._make_routes, dp._make_raw = FakeTun, FakeRoutes, FakeRawSocket  # type: ignore[assignment]
    loop = asyncio.new_event_loop()
    try:
        async def run() -> None:
            dp.attach(FakeSocket(), lambda e: None)  # type: ignore[arg-type]
            spec = replace(child_spec(), encap_local_port=None, encap_remote_port=None)
            dp.install(spec)
            assert dp.counters(spec.spi_in) is not None
            dp.close()
        loop.run_until_complete(run())
    finally:
        loop.close()


def test_dataplane_workers_spread_the_userspace_plane_and_need_it() -> None:
    from esp.userspace.workers import WorkerDataPlane

    dp, line = make_dataplane("userspace", workers=2, tun_name="vpn7")
    assert isinstance(dp, WorkerDataPlane) and dp.count == 2 and dp.reuse_port
    assert "2 worker processes, TUN vpn7w0..w1" in line
    one, _ = make_dataplane("userspace", workers=1)
    assert isinstance(one, UserspaceDataPlane) and not getattr(one, "reuse_port", False)  # unchanged default
    for mode in ("auto", "kernel", "none"):
        with pytest.raises(DataPlaneError, match="needs --dataplane userspace"):
            make_dataplane(mode, workers=2, probe=lambda: NO_ESP)
    with pytest.raises(DataPlaneError, match="at least 1"):
        make_dataplane("userspace", workers=0)


def test_dataplane_workers_auto_follows_the_cpus_when_esp_runs_in_user_space() -> None:
    from esp.userspace.workers import WorkerDataPlane

    forced, line = make_dataplane("userspace", workers=None, cpus=lambda: 3)
    assert isinstance(forced, WorkerDataPlane) and forced.count == 3 and "3 worker processes" in line
    chosen, line = make_dataplane("auto", workers=None, cpus=lambda: 2, probe=lambda: NO_ESP)
    assert isinstance(chosen, WorkerDataPlane) and chosen.count == 2
    assert "the kernel cannot carry ESP" in line and "on 2 worker processes, TUN ikev2d0w0..w1" in line
    alone, line = make_dataplane("userspace", workers=None, cpus=lambda: 1)
    assert isinstance(alone, UserspaceDataPlane) and line.endswith("(TUN ikev2d0)")  # one CPU: one process
    recorded, _ = make_dataplane("none", workers=None, cpus=lambda: 4)
    assert recorded.name == "none"  # no ESP to carry: no workers, and no error either


def test_the_dataplane_workers_option_takes_a_count_or_auto() -> None:
    from ikev2d.commands.run import worker_count

    assert worker_count("auto") is None and worker_count("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="'many' is neither a count nor auto"):
        worker_count("many")

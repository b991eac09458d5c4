"""Crypto jobs always come back: a worker process that dies is replaced and
its job fails as JobFailed(local=True); a job that hangs times out; the
IKE_SA_INIT that waited for it leaves no state and no answer, so the
client's retransmit starts afresh (issue: a pending job never expired)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from ikev2d.core import Responder
from ikev2d.crypto.jobs import DhJob, DhResult, JobFailed
from ikev2d.effects import Compute, Emit, SendDatagram
from ikev2d.events import MessageDropped
from ikev2d.iana import DhId
from ikev2d.settings import build_settings
from ikev2d.workers import CryptoRunner

from responder_harness import GATEWAY, Harness, make_config


def _dh_job() -> DhJob:
    from ikev2d.crypto.dh import get_dh_group
    return DhJob(DhId.MODP_3072, get_dh_group(DhId.MODP_3072, "auto").generate().public_bytes, "auto")


def test_a_dead_worker_process_fails_its_job_and_is_replaced() -> None:
    async def run() -> None:
        runner = CryptoRunner({}, workers=1)
        try:
            assert isinstance(await runner.run(_dh_job()), DhResult)  # the worker is up
            held = asyncio.ensure_future(runner._submit(time.sleep, 3, "DhJob"))  # a job in flight
            await asyncio.sleep(0.2)
            for pid in runner.worker_pids():
                os.kill(pid, signal.SIGKILL)
            failed = await asyncio.wait_for(held, 2)
            assert isinstance(failed, JobFailed) and failed.local and "died" in failed.reason
            assert runner.restarts == 1
            assert isinstance(await runner.run(_dh_job()), DhResult)  # the new worker serves
        finally:
            runner.close()
    asyncio.run(run())


def test_a_job_that_raises_fails_and_the_worker_serves_on() -> None:
    async def run() -> None:
        runner = CryptoRunner({}, workers=2)
        try:
            failed = await runner._submit(int, "not a number", "DhJob")
            assert isinstance(failed, JobFailed) and failed.local and failed.reason == "DhJob raised ValueError"
            results = await asyncio.gather(*(runner.run(_dh_job()) for _ in range(6)))
            assert all(isinstance(r, DhResult) for r in results) and runner.restarts == 0
        finally:
            runner.close()
    asyncio.run(run())


def test_jobs_beyond_what_the_workers_hold_fail_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ikev2d.workers.MAX_QUEUED", 2)

    async def run() -> None:
        runner = CryptoRunner({}, workers=1, timeout=5)
        try:
            busy = [asyncio.ensure_future(runner._submit(time.sleep, 0.5, "SignJob")) for _ in range(2)]
            await asyncio.sleep(0)
            refused = await runner.run(_dh_job())
            assert isinstance(refused, JobFailed) and refused.local
            assert refused.reason == "DhJob: the crypto workers are saturated"
            assert [r for r in await asyncio.gather(*busy)] == [None, None]  # time.sleep's result
        finally:
            runner.close()
    asyncio.run(run())


def test_a_job_that_hangs_times_out() -> None:
    async def run() -> None:
        runner = CryptoRunner({}, workers=1, timeout=0.5)
        try:
            busy = asyncio.ensure_future(runner._submit(time.sleep, 3, "SignJob"))  # the only worker, for longer
            await asyncio.sleep(0)
            failed = await runner.run(_dh_job())  # queued behind it
            hung = await busy
            assert isinstance(hung, JobFailed) and hung.local
            assert hung.reason == "SignJob did not finish within 0.5 s"
            # the job queued behind it times out too (or fails as the stuck worker is replaced)
            assert isinstance(failed, JobFailed) and failed.local
            assert failed.reason == "DhJob did not finish within 0.5 s" or "SignJob hung" in failed.reason
            assert runner.restarts == 1
            assert isinstance(await runner.run(_dh_job()), DhResult)
        finally:
            runner.close()
    asyncio.run(run())


def test_a_locally_failed_dh_job_leaves_no_state_and_the_retransmit_gets_a_new_job(
        tmp_path: Path, pki_dir: Path) -> None:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    h = Harness(Responder(build_settings(config)))
    client = h.client()
    sent: list[bytes] = []
    client.send = lambda d: sent.append(d) or []  # type: ignore[method-assign]
    with pytest.raises(Exception):
        client.ike_sa_init()
    request, source = sent[0], client.o.local
    first = [e for e in h.responder.datagram_received(request, GATEWAY, source, h.now) if isinstance(e, Compute)]
    effects = h.responder.job_done(first[0].token, JobFailed("a crypto worker process died", local=True), h.now)
    assert not any(isinstance(e, SendDatagram) for e in effects)
    assert [e.event.reason for e in effects if isinstance(e, Emit) and isinstance(e.event, MessageDropped)] == [
        "IKE_SA_INIT: a crypto worker process died"]
    assert not h.responder.sas and h.responder.get_timer() is None
    again = [e for e in h.responder.datagram_received(request, GATEWAY, source, h.now + 1)
             if isinstance(e, Compute)]
    assert len(again) == 1


def test_the_default_worker_count_follows_the_cpus_the_daemon_may_use(monkeypatch: pytest.MonkeyPatch,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    from ikev2d.commands.run import crypto_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    with caplog.at_level("INFO", logger="ikev2d"):
        assert crypto_workers(None) == 0  # one CPU (taskset -c 0): inline, no IPC for nothing
    assert "crypto: inline on the event loop (1 CPU usable)" in caplog.text
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5})
    caplog.clear()
    with caplog.at_level("INFO", logger="ikev2d"):
        assert crypto_workers(None) == 3  # the affinity's CPUs, not the machine's count
    assert "crypto: 3 worker processes (3 CPUs usable)" in caplog.text
    assert crypto_workers(1) == 1 and crypto_workers(0) == 0 and crypto_workers(-2) == 0  # asked for: as asked


def test_under_taskset_on_one_cpu_the_daemon_starts_no_worker_process(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    from ikev2d.cli import main
    from lab.ports import free_udp_ports
    from lab.process import poll_until

    if shutil.which("taskset") is None:
        pytest.skip("taskset (util-linux) is not installed")
    ike, nat_t = free_udp_ports(2)
    assert main(["init", str(tmp_path / "gw"), "--ike-port", str(ike), "--natt-port", str(nat_t)]) == 0
    log = tmp_path / "log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "ikev2d", "run", "--config",
                                   str(tmp_path / "gw" / "ikev2d.yaml"), "--dataplane", "none",
                                   "--control", str(tmp_path / "ctl.sock")], stdout=out, stderr=subprocess.STDOUT)
    try:
        assert poll_until(lambda: (tmp_path / "ctl.sock").exists(), timeout=20), log.read_text()
        assert "crypto: inline on the event loop (1 CPU usable)" in log.read_text()
        children = Path(f"/proc/{daemon.pid}/task/{daemon.pid}/children").read_text().split()
        assert children == [], children
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)

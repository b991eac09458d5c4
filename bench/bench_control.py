"""The control socket at scale: `show` and logoff with 1,000 and 10,000
sessions held, over the real control socket.

    .venv/bin/python bench/bench_control.py [--sizes 1000 10000] [--repeat 5]

For each size a daemon process holds that many established sessions (one
negotiated through the sans-I/O responder, the rest its copies with their
own IDs, SPIs, users, peers and leases: lab/sessions.py) behind the real
control server; this process runs the real CLI code (`ikev2d show ...`,
output to a counting sink) against it and times each command, median of
--repeat runs. One run of the CLI as its own process adds Python's start-up.

Memory, measured inside the daemon with tracemalloc for one streamed
`show vpn-sessiondb ra-ikev2-ipsec` answer: the peak while the header is
made (it takes a sample of who is up, as the summary's counters need, and
the list of SAs to show: both O(sessions)), then the peak above that while
the records stream (one record and the socket's 64 KiB buffer); against
the size of the answer and the peak of what the single-line protocol did
before (the whole snapshot as dicts, then one JSON line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from esp.dataplane import RecordingDataPlane  # noqa: E402
from ikev2d.commands import show, vpn_sessiondb  # noqa: E402
from ikev2d.conf import Config  # noqa: E402
from ikev2d.control import collect  # noqa: E402
from ikev2d.control.client import request, stream  # noqa: E402
from ikev2d.control.protocol import encode  # noqa: E402
from ikev2d.control.service import Control, ControlService  # noqa: E402
from ikev2d.control.snapshot_stream import SnapshotReader  # noqa: E402
from ikev2d.core import Responder  # noqa: E402
from ikev2d.effects import Effect, RemoveChildSa  # noqa: E402
from ikev2d.settings import build_settings  # noqa: E402
from ikev2d.show.snapshot import to_dict  # noqa: E402
from ikev2d.syslog import SyslogPipeline  # noqa: E402
from lab.sessions import establish, wide_pool_config  # noqa: E402

COMMANDS = [
    ("show vpn-sessiondb ra-ikev2-ipsec", ["vpn-sessiondb", "ra-ikev2-ipsec"], False),
    ("show vpn-sessiondb ra-ikev2-ipsec --json", ["vpn-sessiondb", "ra-ikev2-ipsec"], True),
    ("show crypto ikev2 sa", ["crypto", "ikev2", "sa"], False),
    ("show crypto ipsec sa", ["crypto", "ipsec", "sa"], False),
    ("show vpn-sessiondb summary", ["vpn-sessiondb", "summary"], False),
]


@dataclass
class BenchDaemon:
    """What the control service reads of a daemon, with a data plane that
    forgets removed Child SAs and datagrams that go nowhere."""

    config: Config
    responder: Responder
    dataplane: RecordingDataPlane = field(default_factory=RecordingDataPlane)
    listeners: list[Any] = field(default_factory=list)
    syslog: SyslogPipeline = field(default_factory=SyslogPipeline)  # the control service counts its events

    def perform(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, RemoveChildSa):
                self.dataplane.remove(effect.spec)


def serve(count: int, path: str, ready: Any) -> None:
    """The daemon process: `count` sessions behind a control socket."""
    with tempfile.TemporaryDirectory() as folder:
        config = wide_pool_config(Path(folder))
        daemon = BenchDaemon(config, Responder(build_settings(config)))
        establish(daemon.responder, count, daemon.dataplane, time.monotonic())
        asyncio.run(_serve(daemon, path, ready))


async def _serve(daemon: BenchDaemon, path: str, ready: Any) -> None:
    control = Control(daemon, path)
    service = control.service
    control.server.handler = lambda message: _measured(service, daemon, message)
    # the server without the once-a-second sampler: its O(sessions) sets
    # would land in whichever answer it ran during (the header samples anyway)
    await control.server.start()
    ready.send(len(daemon.responder.sas))
    await asyncio.Event().wait()


def _measured(service: ControlService, daemon: BenchDaemon, message: dict[str, Any]) -> Any:
    """The service's answer; "bench": "trace" measures this answer's peak,
    "bench": "whole" measures the single-line answer of before; "bench":
    "peak" tells the last traced peak."""
    kind = message.pop("bench", None)
    if kind == "peak":
        return {"ok": True, "peaks": _LAST_PEAK}
    if kind == "whole":
        tracemalloc.start()
        snap = collect.snapshot(daemon, service.stats, service.clock(), service.wall())
        size = len(encode({"ok": True, "snapshot": to_dict(snap)}))
        del snap
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return {"ok": True, "peak": peak, "bytes": size}
    if kind != "trace":
        return service.handle(message)
    tracemalloc.start()
    return _traced(service.handle(message))


def _traced(lines: Any) -> Iterator[dict[str, Any]]:
    """The header's peak (it samples who is up: O(sessions)), then the
    peak over what the header left while the records stream."""
    try:
        yield next(lines)
        held, head_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        yield from lines
        _LAST_PEAK[:] = [head_peak, tracemalloc.get_traced_memory()[1] - held]
    finally:
        tracemalloc.stop()


_LAST_PEAK: list[int] = []


class Sink(io.TextIOBase):
    """Counts what the CLI prints."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text.encode())
        return len(text)


def run_cli(path: str, words: list[str], as_json: bool) -> int:
    sink = Sink()
    with contextlib.redirect_stdout(sink):
        status = show.run(argparse.Namespace(words=words, control=path, json=as_json))
    assert status == 0, words
    return sink.size


def timed(repeat: int, action: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def measure(count: int, repeat: int) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="ikv-bench-")
    path = os.path.join(folder, "control.sock")
    here, there = multiprocessing.Pipe()
    daemon = multiprocessing.get_context("fork").Process(target=serve, args=(count, path, there), daemon=True)
    daemon.start()
    try:
        held = here.recv()
        out: dict[str, Any] = {"sessions": held, "times": {}, "sizes": {}}
        for label, words, as_json in COMMANDS:
            out["times"][label], out["sizes"][label] = timed(repeat, lambda: run_cli(path, words, as_json))
        users = iter(f"user{count - 1 - i:05d}" for i in range(repeat))

        def logoff() -> None:
            args = argparse.Namespace(words=["logoff", "name", next(users)], control=path, json=True, noconfirm=True)
            with contextlib.redirect_stdout(Sink()):
                assert vpn_sessiondb.run(args) == 0

        out["times"]["vpn-sessiondb logoff name USER"], _ = timed(repeat, logoff)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ikev2d", "show", "vpn-sessiondb", "ra-ikev2-ipsec", "--control", path],
                       check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        out["times"]["the same, as its own process"] = time.perf_counter() - started
        out["memory"] = memory(path)
        return out
    finally:
        daemon.terminate()
        daemon.join(10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.rmdir(folder)


def memory(path: str) -> dict[str, int]:
    """Daemon-side peak for one streamed answer, its size on the wire, and
    the single-line answer's peak and size."""
    with contextlib.closing(stream(path, {"op": "show", "bench": "trace"})) as lines:
        reader = SnapshotReader(_counting(lines, lambda n: None))
        for _ in reader.sessions():
            pass
    with contextlib.closing(stream(path, {"op": "show"})) as lines:
        sizes: list[int] = []
        reader = SnapshotReader(_counting(lines, sizes.append))
        for _ in reader.sessions():
            pass
        raw = sum(sizes)
    time.sleep(0.2)  # the daemon closes the traced answer after its last line
    peak = request(path, {"op": "show", "bench": "peak"})
    whole = request(path, {"op": "show", "bench": "whole"})
    head_peak, records_peak = peak["peaks"]
    return {"answer_bytes": raw, "longest_line": max(sizes), "head_peak": head_peak, "records_peak": records_peak,
            "whole_peak": whole["peak"], "whole_bytes": whole["bytes"]}


def _counting(lines: Iterator[dict[str, Any]], note: Any) -> Iterator[dict[str, Any]]:
    for line in lines:
        note(len(encode(line)))
        yield line


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (f"Machine: nproc {os.cpu_count()}, {cpu}, Linux {platform.release()}, Python {platform.python_version()}; "
            f"load average {load}")


def kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(machine())
    results = {n: measure(n, args.repeat) for n in args.sizes}
    small, large = args.sizes[0], args.sizes[-1]
    print(f"\nSeconds, median of {args.repeat} (the CLI in this process, the daemon in its own):\n")
    print(f"| command | {small:,} sessions | {large:,} sessions | ratio | output at {large:,} |")
    print("| --- | --- | --- | --- | --- |")
    for label in results[small]["times"]:
        a, b = results[small]["times"][label], results[large]["times"][label]
        size = results[large]["sizes"].get(label)
        print(f"| {label} | {a:.3f} | {b:.3f} | {b / a:.1f}x | {kib(size) if size else '-'} |")
    print("\nDaemon memory for one `show vpn-sessiondb ra-ikev2-ipsec` answer (tracemalloc peak):\n")
    print("| sessions | answer on the wire | longest line | streamed: header's peak | streamed: records' peak "
          "| single line (before): peak | single line: its size |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n, r in results.items():
        m = r["memory"]
        print(f"| {n:,} | {kib(m['answer_bytes'])} | {m['longest_line']:,} B | {kib(m['head_peak'])} "
              f"| {kib(m['records_peak'])} | {kib(m['whole_peak'])} | {kib(m['whole_bytes'])} |")


if __name__ == "__main__":
    main()

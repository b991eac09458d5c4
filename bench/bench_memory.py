"""Memory per established session: ikev2d's RSS with N sessions held by
`ikev2d load --hold` (root, not a test):

    sudo .venv/bin/python bench/bench_memory.py [--sessions 10000] [--dataplane userspace]
        [--charon-sessions 0] [--json FILE] [--markdown FILE]

ikev2d runs in the gateway namespace with the default configuration but for
a pool and local users large enough for N sessions (one user each, so the
simultaneous-login limit never bites). `ikev2d load` holds N EAP-MSCHAPv2
sessions (AES-256, SHA-512, MODP-3072) from a client namespace while the
daemon's RSS (VmRSS of its main process; its crypto workers apart: they keep
no per-session state) is sampled with the session count. Per session:
(RSS at N - RSS before any session) / N, and the slope of RSS over the
second half of the ramp (what one more session costs once every lazy
import and cache is warm).

Where the bytes go: the same handshake in process (lab.initiator against
ikev2d.core.Responder, no data plane), under tracemalloc, by source line,
and the new objects by type.

With --charon-sessions M, strongSwan's charon as the responder (the lab's
swanctl configuration: EAP-MSCHAPv2, a pool) is held M sessions by the same
`ikev2d load` and measured the same way, side by side.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config  # noqa: E402
from lab.netns import Topology, run_prefix  # noqa: E402
from lab.pki import make_lab_pki  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "Lab-Load-Passw0rd-1"
# one /18 of lab addresses for the clients' inner addresses (16,382 usable)
POOL = "198.19.64.1-198.19.127.254"
POOL_MASK = "255.255.192.0"
SOURCES = "198.18.0.100-198.18.0.119"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def daemon_pids(launcher: int) -> tuple[int, list[int]]:
    """The `ikev2d run` process under `ip netns exec` (which execs), and its workers."""
    todo, main = [launcher], None
    while todo:
        pid = todo.pop()
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ikev2d" in cmd and b"run" in cmd:
            main = pid
            break
        todo += children(pid)
    if main is None:
        raise RuntimeError("no ikev2d run process")
    return main, children(main)


def charon_pid(launcher: int) -> int:
    """The charon process the lab's launcher became (or started)."""
    todo = [launcher]
    while todo:
        pid = todo.pop()
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "charon":
                return pid
        except OSError:
            continue
        todo += children(pid)
    raise RuntimeError("no charon process found")


def session_count(server: Ikev2d) -> int:
    out = server.cli("show", "vpn-sessiondb", "summary", json=True, timeout=60)
    if out.returncode != 0:
        return -1
    data = json.loads(out.stdout)
    # "Generic IKEv2 Remote Access" (the FTD's label for IKEv2 sessions)
    return sum(r["active"] for r in data["vpn_session_summary"] if "IKEv2" in r["label"])


def hold_sessions(ns: Any, target: str, sessions: int, concurrency: int, workers: int,
                  ping: str | None) -> subprocess.Popen[str]:
    """`ikev2d load` holding `sessions`; with `ping`, each one first carries an
    ICMP echo to that inside address through its tunnel (ESP in UDP), so its
    ESP state is what a session with traffic holds."""
    argv = [sys.executable, "-m", "ikev2d", "load", target, "--json", "-q", "-n", str(sessions),
            "-c", str(concurrency), "--user", "load{n}", "--source", SOURCES, "--hold", "86400",
            "--timeout", "5", "--retries", "4", "--workers", str(workers)]
    if ping is not None:
        argv += ["--ping", ping, "--ping-count", "1"]
    return subprocess.Popen(ns.argv(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=dict(os.environ, IKEV2D_LOAD_PASSWORD=PASSWORD))


def end_hold(load: subprocess.Popen[str]) -> dict[str, Any]:
    # `ip netns exec` execs the load process: SIGINT ends its hold, it deletes and reports
    load.send_signal(2)
    try:
        out, err = load.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        load.kill()
        out, err = load.communicate()
    try:
        return dict(json.loads(out))
    except ValueError:
        return {"error": (out + err)[-2000:]}


def ramp(count: Any, pid: int, sessions: int, load: subprocess.Popen[str], timeout: float) -> list[tuple[float, int, int]]:
    """(seconds, sessions, RSS KiB) until `sessions` are up (or the load ends/times out)."""
    samples: list[tuple[float, int, int]] = []
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        n = count()
        if load.poll() is not None:
            break  # it ended early (an error, a signal): its sessions are going, no more samples
        samples.append((round(time.monotonic() - start, 1), n, rss_kib(pid)))
        if n >= sessions:
            time.sleep(5.0)  # settle: the last handshakes' transient buffers go
            samples.append((round(time.monotonic() - start, 1), count(), rss_kib(pid)))
            break
        time.sleep(3.0)
    return samples or [(0.0, 0, rss_kib(pid))]


def slope(samples: list[tuple[float, int, int]]) -> float | None:
    """Least-squares KiB per session over the second half of the ramp."""
    top = max(n for _, n, _ in samples)
    pts = [(n, r) for _, n, r in samples if n >= top / 2]
    if len(pts) < 2 or len({n for n, _ in pts}) < 2:
        return None
    mx = sum(n for n, _ in pts) / len(pts)
    my = sum(r for _, r in pts) / len(pts)
    var = sum((n - mx) ** 2 for n, _ in pts)
    return sum((n - mx) * (r - my) for n, r in pts) / var


def measure_ikev2d(topology: Topology, tmp: Path, sessions: int, dataplane: str, concurrency: int,
                   workers: int, ping: str | None) -> dict[str, Any]:
    pki = make_lab_pki(tmp / "pki")
    users = {f"load{n}": PASSWORD for n in range(1, sessions + 1)}

    def edit(cfg: dict[str, Any]) -> None:
        for pool in cfg["objects"]["ipv4_pools"]:
            pool["mask"] = POOL_MASK

    config = lab_config(pki, store=tmp / "store",
                        knobs=Ikev2dKnobs(users=users, pool_range=POOL, edit=edit, logging_level="errors"))
    extra = ["--dataplane", dataplane] if dataplane != "auto" else []
    server = Ikev2d(topology.gateway, tmp / "ikev2d", config, extra_args=extra)
    server.start(timeout=60)
    try:
        assert server.proc is not None
        main, _ = daemon_pids(server.proc.pid)
        time.sleep(2.0)
        before = rss_kib(main)
        workers_before = {p: rss_kib(p) for p in children(main)}
        load = hold_sessions(topology.clients[0], topology.gateway_addr, sessions, concurrency, workers, ping)
        try:
            samples = ramp(lambda: session_count(server), main, sessions, load, timeout=3600)
        finally:
            held, after = samples[-1][1], samples[-1][2]
            workers_after = {p: rss_kib(p) for p in children(main)}  # started with the first job
            report = end_hold(load)
        after_delete = rss_kib(main)
    finally:
        server.stop()
    return {"server": "ikev2d", "dataplane": dataplane, "sessions_asked": sessions, "sessions_held": held,
            "rss_before_kib": before, "rss_held_kib": after, "rss_after_delete_kib": after_delete,
            "kib_per_session": round((after - before) / held, 2) if held else None,
            "slope_kib_per_session": round(s, 2) if (s := slope(samples)) is not None else None,
            "workers_rss_before_kib": list(workers_before.values()),
            "workers_rss_held_kib": list(workers_after.values()),
            "load_report": {k: report.get(k) for k in ("established", "failed", "connects_per_second", "errors",
                                                       "pings_sent", "pings_answered", "error") if k in report},
            "samples": samples}


def measure_charon(topology: Topology, tmp: Path, sessions: int, concurrency: int, workers: int,
                   ping: str | None) -> dict[str, Any]:
    from lab.strongswan import Charon  # noqa: PLC0415 (only when asked)
    from lab.swanctl_conf import ResponderConfig  # noqa: PLC0415

    pki = make_lab_pki(tmp / "pki-charon")
    users = {f"load{n}": PASSWORD for n in range(1, sessions + 1)}
    responder = Charon(topology.gateway, tmp / "charon-gw")
    responder.start()
    try:
        server = pki.server_identity(None)
        responder.load(ResponderConfig(server_cert=server.cert, server_key=server.key,
                                       local_addr=topology.gateway_addr, users=users, pool=POOL))
        assert responder.proc is not None
        pid = charon_pid(responder.proc.pid)
        time.sleep(2.0)
        before = rss_kib(pid)
        load = hold_sessions(topology.clients[0], topology.gateway_addr, sessions, concurrency, workers, ping)

        def count() -> int:
            return sum(1 for sa in responder.list_sas() if sa.state == "ESTABLISHED")
        try:
            samples = ramp(count, pid, sessions, load, timeout=3600)
        finally:
            held, after = samples[-1][1], samples[-1][2]
            report = end_hold(load)
    finally:
        responder.stop()
    return {"server": "charon", "sessions_asked": sessions, "sessions_held": held, "rss_before_kib": before,
            "rss_held_kib": after, "kib_per_session": round((after - before) / held, 2) if held else None,
            "slope_kib_per_session": round(s, 2) if (s := slope(samples)) is not None else None,
            "load_report": {k: report.get(k) for k in ("established", "failed", "errors", "pings_sent",
                                                       "pings_answered", "error") if k in report},
            "samples": samples}


def breakdown(tmp: Path, sessions: int = 200) -> dict[str, Any]:
    """The same handshake in process: what each established session retains,
    by source line (tracemalloc) and by type (new objects, gc)."""
    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from ikev2d.settings import build_settings  # noqa: PLC0415
    from ikev2d.core import Responder  # noqa: PLC0415
    from responder_harness import Harness, make_config  # type: ignore[import-not-found]  # noqa: PLC0415

    tmp.mkdir(parents=True, exist_ok=True)
    users = "".join(f"    - username: m{n}\n      password: {PASSWORD}\n" for n in range(sessions))
    config = make_config(tmp, **{"range: 198.19.0.200-198.19.0.250": f"range: {POOL}",
                                 "mask: 255.255.255.0\n\n": f"mask: {POOL_MASK}\n\n",
                                 "  local_users:\n": "  local_users:\n" + users})
    harness = Harness(Responder(build_settings(config)))
    # one session first: imports, caches, the first handshake's lazy state
    warm = harness.client(2, username="m0", password=PASSWORD)
    assert warm.connect().address is not None
    gc.collect()
    types_before = Counter(type(o).__name__ for o in gc.get_objects())
    tracemalloc.start(1)
    snap0 = tracemalloc.take_snapshot()
    for n in range(1, sessions):
        c = Initiator_for(harness, n)
        assert c.connect().address is not None, f"session {n}"
        del c  # only the responder's state stays
        harness.effects.clear()
    gc.collect()
    snap1 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    types_after = Counter(type(o).__name__ for o in gc.get_objects())
    count = sessions - 1
    # the initiators are gone (each dropped once connected): what stays is the responder's
    stats = snap1.compare_to(snap0, "lineno")
    total = sum(s.size_diff for s in stats)
    lines = [{"where": f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}",
              "bytes_per_session": round(s.size_diff / count), "objects_per_session": round(s.count_diff / count, 2)}
             for s in sorted(stats, key=lambda s: -s.size_diff)[:25]]
    types = [{"type": t, "per_session": round((types_after[t] - types_before.get(t, 0)) / count, 2)}
             for t in sorted(types_after, key=lambda t: -(types_after[t] - types_before.get(t, 0)))[:25]
             if types_after[t] - types_before.get(t, 0) > 0]
    return {"sessions": count, "python_bytes_per_session": round(total / count), "by_line": lines,
            "new_gc_objects_by_type": types}


def _short(filename: str) -> str:
    path = Path(filename)
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else filename


def Initiator_for(harness: Any, n: int) -> Any:
    # each client its own address (198.18.0.3 on)
    return harness.client(2 + n, username=f"m{n}", password=PASSWORD)


def markdown(result: dict[str, Any]) -> str:
    ours = result["ikev2d"]
    lines = [f"# bench_memory {result['commit']} {result['date']}", "",
             f"Machine: {result['machine']}", "",
             "Method: ikev2d (this tree, the default configuration but a /18 pool and one local user per"
             f" session) in the gateway namespace, `--dataplane {ours['dataplane']}`; `ikev2d load --hold`"
             " holds the sessions from a client namespace (EAP-MSCHAPv2, AES-256/SHA-512/MODP-3072, 20"
             " source addresses). RSS is VmRSS of the daemon's main process, sampled with the session count"
             " (`show vpn-sessiondb summary`); per session = (RSS held - RSS before any session) / sessions"
             " held; slope = least squares over the second half of the ramp. The machine is shared: the"
             " figures are noisy, the ratio side by side is what counts."
             + (f" Each session first carried one ICMP echo to {result['ping']} through its tunnel (ESP in"
                " UDP, `ikev2d load --ping`), so its ESP state is that of a session with traffic."
                if result.get("ping") else " The sessions carry no traffic."), "",
             "| server | sessions held | RSS before (KiB) | RSS held (KiB) | KiB per session | slope KiB/session |",
             "| --- | --- | --- | --- | --- | --- |"]
    for key in ("ikev2d", "charon"):
        r = result.get(key)
        if r:
            lines.append(f"| {r['server']} | {r['sessions_held']} | {r['rss_before_kib']} | {r['rss_held_kib']}"
                         f" | {r['kib_per_session']} | {r['slope_kib_per_session']} |")
    lines += ["", f"ikev2d crypto workers (no per-session state): RSS before {ours['workers_rss_before_kib']}"
              f" KiB, held {ours['workers_rss_held_kib']} KiB; main RSS after every Delete:"
              f" {ours['rss_after_delete_kib']} KiB (freed memory stays with the allocator)."]
    if result.get("charon"):
        c = result["charon"]
        lines.append(f"charon held {c['sessions_held']} sessions (asked {c['sessions_asked']}).")
    b = result.get("breakdown")
    if b:
        lines += ["", f"## Where the bytes go (in process, {b['sessions']} sessions, no data plane)", "",
                  f"Python heap retained per established session (tracemalloc):"
                  f" {b['python_bytes_per_session']} bytes", "",
                  "| where | bytes per session | objects per session |", "| --- | --- | --- |"]
        lines += [f"| {x['where']} | {x['bytes_per_session']} | {x['objects_per_session']} |" for x in b["by_line"]]
        lines += ["", "New gc-tracked objects per session, by type: "
                  + ", ".join(f"{x['type']} {x['per_session']}" for x in b["new_gc_objects_by_type"])]
    lines += ["", "Raw: " + json.dumps({k: v for k, v in result.items() if k != "breakdown"})]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--dataplane", default="userspace", choices=["userspace", "none", "auto", "kernel"])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="`ikev2d load --workers`")
    parser.add_argument("--charon-sessions", type=int, default=0, help="also strongSwan's responder, this many")
    parser.add_argument("--ping", action="store_true",
                        help="each session pings the gateway's inside address once through its tunnel first")
    parser.add_argument("--breakdown-sessions", type=int, default=200, help="in process (0: none)")
    parser.add_argument("--no-daemon", action="store_true", help="only the in-process breakdown")
    parser.add_argument("--json", type=Path, metavar="FILE")
    parser.add_argument("--markdown", type=Path, metavar="FILE")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
    result: dict[str, Any] = {"commit": commit, "date": datetime.date.today().isoformat(),
                              "machine": f"{cpu_model}, {os.cpu_count()} CPUs, Linux {platform.release()},"
                                         f" Python {platform.python_version()}"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.breakdown_sessions:
            result["breakdown"] = breakdown(tmp / "inproc", args.breakdown_sessions)
            print(json.dumps(result["breakdown"]["python_bytes_per_session"]), "bytes/session in process",
                  file=sys.stderr)
        if not args.no_daemon:
            with Topology(run_prefix("bm"), 1) as topology:
                first, last = SOURCES.split("-")
                base = first.rsplit(".", 1)[0]
                for n in range(int(first.rsplit(".", 1)[1]), int(last.rsplit(".", 1)[1]) + 1):
                    topology.clients[0].add_address("eth0", f"{base}.{n}/24")
                ping = topology.inside_addr if args.ping else None
                result["ping"] = ping
                result["ikev2d"] = measure_ikev2d(topology, tmp, args.sessions, args.dataplane, args.concurrency,
                                                  args.workers, ping)
                if args.charon_sessions:
                    result["charon"] = measure_charon(topology, tmp, args.charon_sessions, args.concurrency,
                                                      args.workers, ping)
    text = markdown(result) if "ikev2d" in result else json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    out = args.markdown or (REPO / "bench" / "results" / f"bench_memory-{commit}-{result['date']}.md")
    if "ikev2d" in result:
        out.write_text(text)
    print(text)
    if "ikev2d" in result:
        print(f"written to {out}")


if __name__ == "__main__":
    main()

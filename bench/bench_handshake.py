"""Server CPU per connect + terminate: ikev2d beside strongSwan's responder
(charon), the same `ikev2d load` clients against each, in one run (root,
not a test):

    sudo .venv/bin/python bench/bench_handshake.py [--connects N] [--repeats R]
        [--concurrency C] [--crypto-workers W ...] [--json FILE] [--markdown FILE]

Both servers run in the gateway namespace with the default configuration's
suite: IKE AES-256/SHA-512/PRF-SHA-512/MODP-3072 (DH 15), an RSA-2048
certificate, EAP-MSCHAPv2 against local users, an address from a pool by
configuration payload, one Child SA. ikev2d runs `--dataplane userspace`:
like charon's kernel-libipsec (the lab's charon), every Child SA is
installed into an ESP data plane in user space, so both pay for that
install; the kernel back end is not usable in a network namespace here.

For each sample one server is started (pinned with taskset to CPU 0, or
to CPUs 0-1; ikev2d is started under taskset, so that its default crypto
worker count sees the CPUs it has, as under systemd's CPUAffinity),
warmed up with a few connects, then `ikev2d load -n N -c C` connects and deletes N sessions from the client namespace. The server's CPU
is utime + stime from /proc of its process and every descendant (ikev2d's
crypto worker processes), read before and after; for ikev2d the main
process's share is reported too. With the server on CPU 0 the client is
pinned to CPU 1 (its own core); on two cores the client is not pinned and
shares them. Servers and core counts alternate within each repeat (the
order flips every repeat): the machine is shared, only figures of the same
run are compared, as ratios.

Writes bench/results/bench_handshake-<commit>-<date>.md and .json (or the
given files) with the machine, every sample and the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config, load_default_config  # noqa: E402
from lab.netns import Topology, run_prefix  # noqa: E402
from lab.pki import LabPki, make_lab_pki  # noqa: E402
from lab.strongswan import Charon  # noqa: E402
from lab.swanctl_conf import ResponderConfig  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "Lab-Load-Passw0rd-1"
POOL = "198.19.16.1-198.19.31.254"  # ~4000: load holds every session until it deletes them all
POOL_MASK = "255.255.240.0"
SOURCES = "198.18.0.100-198.18.0.119"
TICKS = os.sysconf("SC_CLK_TCK")
WARMUP = 10
CORES = {1: "0", 2: "0-1"}
CLIENT_CPU = {1: "1", 2: None}


# -- process CPU ---------------------------------------------------------------

def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds by process of `pid`'s tree: utime + stime (all threads),
    plus the root's cutime + cstime (children that already ended)."""
    out: dict[int, float] = {}
    for p in descendants(pid):
        try:
            f = _stat(p)
        except OSError:
            continue
        extra = int(f[13]) + int(f[14]) if p == pid else 0
        out[p] = (int(f[11]) + int(f[12]) + extra) / TICKS
    return out


def user_system(pid: int) -> tuple[float, float]:
    """utime and stime of one process, in seconds."""
    f = _stat(pid)
    return int(f[11]) / TICKS, int(f[12]) / TICKS


def pin(pid: int, cpus: str) -> None:
    for p in descendants(pid):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(p)], capture_output=True)


# -- servers -------------------------------------------------------------------

class Server:
    """A server under test: started, its root PID, stopped."""

    name: str

    def start(self, cpus: str) -> int:
        """Start on `cpus` (a taskset list); returns the root PID."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class Ikev2dServer(Server):
    def __init__(self, topology: Topology, pki: LabPki, folder: Path, users: dict[str, str], workers: int | None,
                 tree: Path | None = None):
        self.topology, self.pki, self.folder, self.users, self.workers = topology, pki, folder, users, workers
        self.tree = tree  # another source tree of ikev2d (an A/B of two commits)
        self.name = ("ikev2d" if workers is None else f"ikev2d w{workers}") + (f" ({tree.name})" if tree else "")
        self.daemon: Ikev2d | None = None

    def start(self, cpus: str) -> int:
        level = load_default_config()["logging"]["vpn_logging_level"]
        config = lab_config(self.pki, store=self.folder / "store",
                            knobs=Ikev2dKnobs(users=self.users, pool_range=POOL, logging_level=level,
                                              edit=_pool_mask))
        extra = ["--dataplane", "userspace"]
        if self.workers is not None:
            extra += ["--crypto-workers", str(self.workers)]
        # started on its CPUs, as under systemd's CPUAffinity: ikev2d sizes its
        # crypto workers by the CPUs it may run on (none, inline, on one)
        launcher = ["taskset", "-c", cpus] + (["env", f"PYTHONPATH={self.tree}"] if self.tree else [])
        self.daemon = Ikev2d(self.topology.gateway, self.folder, config, extra_args=extra, launcher=launcher).start()
        assert self.daemon.proc is not None
        return self.daemon.proc.pid

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None


def _pool_mask(config: dict[str, Any]) -> None:
    for pool in config["objects"]["ipv4_pools"]:
        pool["mask"] = POOL_MASK


class CharonServer(Server):
    name = "charon"

    def __init__(self, topology: Topology, pki: LabPki, folder: Path, users: dict[str, str]):
        self.topology, self.pki, self.folder, self.users = topology, pki, folder, users
        self.charon: Charon | None = None

    def start(self, cpus: str) -> int:  # pinned once started (sample): charon's threads are its own
        # ike log level 0 (audit: SAs up and down), as ikev2d's default "errors" logs little
        self.charon = Charon(self.topology.gateway, self.folder, ike_log_level=0).start()
        server = self.pki.server_identity(None)
        self.charon.load(ResponderConfig(server_cert=server.cert, server_key=server.key,
                                         local_addr=self.topology.gateway_addr, users=self.users, pool=POOL))
        assert self.charon.proc is not None
        return charon_pid(self.charon.proc.pid)

    def stop(self) -> None:
        if self.charon is not None:
            self.charon.stop()
            self.charon = None


def charon_pid(root: int) -> int:
    for p in descendants(root):
        if Path(f"/proc/{p}/comm").read_text().strip() == "charon":
            return p
    raise RuntimeError("no charon process found")


# -- the client ----------------------------------------------------------------

def run_load(topology: Topology, connects: int, concurrency: int, cpus: str | None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "ikev2d", "load", topology.gateway_addr, "--json", "-q", "-n", str(connects),
            "-c", str(concurrency), "--user", "load{n}", "--source", SOURCES]
    if cpus is not None:
        argv = ["taskset", "-c", cpus, *argv]
    proc = subprocess.run(topology.clients[0].argv(argv), capture_output=True, text=True, cwd=REPO, timeout=900,
                          env=dict(os.environ, IKEV2D_LOAD_PASSWORD=PASSWORD))
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"ikev2d load failed:\n{proc.stdout}{proc.stderr}")
    report: dict[str, Any] = json.loads(proc.stdout)
    if report["established"] != connects or report["deleted"] != connects:
        raise RuntimeError(f"ikev2d load: not every session connected and deleted: {report}")
    return report


def sample(server: Server, topology: Topology, connects: int, concurrency: int, cores: int) -> dict[str, Any]:
    root = server.start(CORES[cores])
    try:
        pin(root, CORES[cores])
        run_load(topology, WARMUP, min(concurrency, WARMUP), CLIENT_CPU[cores])
        pin(root, CORES[cores])  # worker processes started by the warm-up
        time.sleep(0.5)  # the warm-up's deletes answered
        before, split_before, started = tree_cpu(root), user_system(root), time.monotonic()
        report = run_load(topology, connects, concurrency, CLIENT_CPU[cores])
        wall = time.monotonic() - started
        after, split_after = tree_cpu(root), user_system(root)
    finally:
        server.stop()
    spent = {p: after[p] - before.get(p, 0.0) for p in after}
    total = sum(spent.values())
    return {
        "server": server.name, "cores": cores, "connects": connects, "concurrency": concurrency,
        "cpu_ms_per_connect": round(total * 1000 / connects, 3),
        "main_cpu_ms_per_connect": round(spent.get(root, 0.0) * 1000 / connects, 3),
        # the kernel's share (system time: sockets, TUN, the veth pair's delivery)
        "main_user_system_ms": [round((split_after[i] - split_before[i]) * 1000 / connects, 3) for i in (0, 1)],
        "processes": len(after),
        "connects_per_second": round(report["connects_per_second"], 1),
        "wall_s": round(wall, 2),
        "latency_ms": report["latency_ms"],
        "client_cpu_ms_per_connect": report.get("cpu_ms_per_connect"),
        "retransmits": report.get("retransmits"),
    }


# -- the run -------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cpus": os.cpu_count(), "linux": platform.release(), "python": platform.python_version(),
            "loadavg_at_start": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Median per (server, cores) and ratios charon / ikev2d per repeat."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for s in samples:
        groups.setdefault((s["server"], s["cores"]), []).append(s)

    def med(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], float]) -> float:
        return round(statistics.median(key(r) for r in rows), 2)

    table = []
    for (name, cores), rows in sorted(groups.items()):
        table.append({"server": name, "cores": cores, "samples": len(rows),
                      "cpu_ms_per_connect": med(rows, lambda r: r["cpu_ms_per_connect"]),
                      "cpu_ms_min_max": [min(r["cpu_ms_per_connect"] for r in rows),
                                         max(r["cpu_ms_per_connect"] for r in rows)],
                      "main_cpu_ms_per_connect": med(rows, lambda r: r["main_cpu_ms_per_connect"]),
                      "connects_per_second": med(rows, lambda r: r["connects_per_second"]),
                      "total_p50_ms": med(rows, lambda r: r["latency_ms"]["total"]["p50"]),
                      "total_p99_ms": med(rows, lambda r: r["latency_ms"]["total"]["p99"])})
    ratios = []
    for (name, cores), rows in sorted(groups.items()):
        if name == "charon":
            continue
        theirs = groups.get(("charon", cores), [])
        per_repeat = [t["cpu_ms_per_connect"] / o["cpu_ms_per_connect"]
                      for o, t in zip(rows, theirs) if o["cpu_ms_per_connect"] > 0]
        rate = [o["connects_per_second"] / t["connects_per_second"]
                for o, t in zip(rows, theirs) if t["connects_per_second"] > 0]
        if per_repeat:
            ratios.append({"server": name, "cores": cores,
                           "charon_cpu_over_ours": round(statistics.median(per_repeat), 2),
                           "per_repeat": [round(r, 2) for r in per_repeat],
                           "our_connects_per_s_over_charon": round(statistics.median(rate), 2) if rate else None})
    return {"table": table, "ratios": ratios}


def markdown(result: dict[str, Any]) -> str:
    m, a = result["machine"], result["args"]
    lines = [f"# bench_handshake {result['commit']} {result['date']}", "",
             f"Machine: {m['cpu']}, {m['cpus']} CPUs, Linux {m['linux']}, Python {m['python']};"
             f" load average at start {m['loadavg_at_start']} (shared machine: compare within this run only)",
             f"Run: {a['connects']} connects + deletes per sample, `ikev2d load -c {a['concurrency']}` from one"
             f" client namespace (20 source addresses), {a['repeats']} repeats, servers and core counts alternating;"
             f" {WARMUP} warm-up connects per sample, not counted.",
             "Suite: AES-256/SHA-512/PRF-SHA-512/MODP-3072, RSA-2048 server certificate, EAP-MSCHAPv2, CP address,"
             " one Child SA. ikev2d: `--dataplane userspace`, default configuration (logging: errors);"
             " charon: kernel-libipsec, ike log level 0.",
             "Server CPU: utime + stime of the server process and its descendants (/proc), before and after;"
             " on 1 core the server is pinned to CPU 0 and the client to CPU 1; on 2 cores the server has"
             " CPUs 0-1 and the client shares them.", "",
             "| server | cores | CPU ms per connect+delete (median, min-max) | main process ms | connects/s |"
             " total latency p50 / p99 ms |", "| --- | --- | --- | --- | --- | --- |"]
    for row in result["summary"]["table"]:
        lo, hi = row["cpu_ms_min_max"]
        lines.append(f"| {row['server']} | {row['cores']} | {row['cpu_ms_per_connect']} ({lo}-{hi}) |"
                     f" {row['main_cpu_ms_per_connect']} | {row['connects_per_second']} |"
                     f" {row['total_p50_ms']} / {row['total_p99_ms']} |")
    lines += ["", "| ratio | cores | charon CPU / ours (median; per repeat) | our connects/s / charon's |",
              "| --- | --- | --- | --- |"]
    for r in result["summary"]["ratios"]:
        lines.append(f"| charon / {r['server']} | {r['cores']} | {r['charon_cpu_over_ours']}"
                     f" ({', '.join(str(x) for x in r['per_repeat'])}) | {r['our_connects_per_s_over_charon']} |")
    lines += ["", "Every sample (in run order; main ms: user + system):", "",
              "| # | server | cores | CPU ms | main ms | connects/s | p50 / p90 / p99 ms | client CPU ms | retransmits |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, s in enumerate(result["samples"], 1):
        lat = s["latency_ms"]["total"]
        lines.append(f"| {i} | {s['server']} | {s['cores']} | {s['cpu_ms_per_connect']} |"
                     f" {s['main_cpu_ms_per_connect']} ({' + '.join(str(x) for x in s['main_user_system_ms'])}) |"
                     f" {s['connects_per_second']} | {lat['p50']} / {lat['p90']} / {lat['p99']} | {s['client_cpu_ms_per_connect']} |"
                     f" {s['retransmits']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connects", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--cores", default="1,2", help="core counts to pin the server to (default 1,2)")
    parser.add_argument("--crypto-workers", type=int, action="append", default=[], metavar="W",
                        help="run ikev2d with --crypto-workers W (repeatable: side by side); default: its default")
    parser.add_argument("--tree", type=Path, action="append", default=[], metavar="DIR",
                        help="also run ikev2d from this source tree (e.g. a `git archive` of an older commit), "
                             "for an A/B of two commits in one run")
    parser.add_argument("--no-charon", action="store_true", help="ikev2d only (quick loops)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the result as JSON here")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the markdown result here")
    args = parser.parse_args()
    cores = [int(c) for c in args.cores.split(",")]
    users = {f"load{n}": PASSWORD for n in range(1, max(args.connects, WARMUP) + 1)}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    result: dict[str, Any] = {"bench": "bench_handshake", "commit": commit,
                              "date": datetime.date.today().isoformat(), "machine": machine(),
                              "args": {"connects": args.connects, "repeats": args.repeats,
                                       "concurrency": args.concurrency, "cores": cores,
                                       "crypto_workers": args.crypto_workers}, "samples": []}
    with tempfile.TemporaryDirectory() as tmp, Topology(run_prefix("bh"), 1) as topology:
        first, last = SOURCES.split("-")
        base = first.rsplit(".", 1)[0]
        for n in range(int(first.rsplit(".", 1)[1]), int(last.rsplit(".", 1)[1]) + 1):
            topology.clients[0].add_address("eth0", f"{base}.{n}/24")
        pki = make_lab_pki(Path(tmp) / "pki")
        servers: list[Server] = [Ikev2dServer(topology, pki, Path(tmp) / f"ikev2d{w}", users, w)
                                 for w in (args.crypto_workers or [None])]
        servers += [Ikev2dServer(topology, pki, Path(tmp) / f"ikev2d-{tree.name}-{w}", users, w, tree.resolve())
                    for tree in args.tree for w in (args.crypto_workers or [None])]
        if not args.no_charon:
            servers.append(CharonServer(topology, pki, Path(tmp) / "charon", users))
        for repeat in range(args.repeats):
            order = servers if repeat % 2 == 0 else servers[::-1]
            for n in cores if repeat % 2 == 0 else cores[::-1]:
                for server in order:
                    s = sample(server, topology, args.connects, args.concurrency, n)
                    s["repeat"] = repeat + 1
                    result["samples"].append(s)
                    print(f"repeat {repeat + 1} {s['server']} on {n} core(s): {s['cpu_ms_per_connect']} ms"
                          f" (main {s['main_cpu_ms_per_connect']}), {s['connects_per_second']} connects/s",
                          file=sys.stderr, flush=True)
    result["summary"] = summarise(result["samples"])
    text = markdown(result)
    stem = REPO / "bench" / "results" / f"bench_handshake-{commit}-{result['date']}"
    md_path = args.markdown or stem.with_suffix(".md")
    json_path = args.json or stem.with_suffix(".json")
    md_path.write_text(text)
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    print(text)
    print(f"written to {md_path} and {json_path}", file=sys.stderr)


if __name__ == "__main__":
    main()

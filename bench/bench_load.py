"""Client CPU per connect: `ikev2d load` beside strongSwan's charon as a
client, against the same ikev2d in the same run (root, not a test):

    sudo .venv/bin/python bench/bench_load.py [--connects 100] [--concurrency 10] [--json FILE]

Both connect and delete `--connects` EAP-MSCHAPv2 sessions (the
whitepaper's suite: AES-256, SHA-512, MODP-3072) from a client namespace.
charon's CPU is read from /proc for its process (initiate and terminate
over VICI, one session at a time, as a client does); `ikev2d load`'s is
its own report (`cpu_ms_per_connect`: connect and delete, without Python's
start-up) and the whole process's (with it). Writes a dated result file to
bench/results/ with the machine and every figure; with `--json FILE`, the
figures go to FILE instead (what `python -m bench` reads).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config  # noqa: E402
from lab.netns import Topology, run_prefix  # noqa: E402
from lab.pki import make_lab_pki  # noqa: E402
from lab.strongswan import Charon  # noqa: E402
from lab.swanctl_conf import ClientConfig  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "Lab-Load-Passw0rd-1"
POOL = "198.19.1.1-198.19.1.250"
SOURCES = "198.18.0.100-198.18.0.119"
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """utime + stime of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def charon_pid(proc_pid: int) -> int:
    """The charon process the lab's launcher became (or started)."""
    if Path(f"/proc/{proc_pid}/comm").read_text().strip() == "charon":
        return proc_pid
    out = subprocess.run(["pgrep", "-P", str(proc_pid)], capture_output=True, text=True).stdout.split()
    for child in out:
        if Path(f"/proc/{child}/comm").read_text().strip() == "charon":
            return int(child)
    raise RuntimeError("no charon process found")


def bench_charon(topology: Topology, ca_cert: Path, folder: Path, connects: int) -> dict[str, float]:
    charon = Charon(topology.clients[0], folder)
    charon.start()
    try:
        charon.load(ClientConfig(local_addr=topology.client_addrs[0], remote_addr=topology.gateway_addr,
                                 ca_cert=ca_cert, identity="load1", password=PASSWORD))
        assert charon.proc is not None
        pid = charon_pid(charon.proc.pid)
        before, started = process_cpu(pid), time.monotonic()
        for _ in range(connects):
            if not charon.initiate(timeout=10).ok:
                raise RuntimeError("charon did not connect")
            if not charon.terminate().ok:
                raise RuntimeError("charon did not disconnect")
        cpu, wall = process_cpu(pid) - before, time.monotonic() - started
    finally:
        charon.stop()
    return {"cpu_ms_per_connect": round(cpu * 1000 / connects, 2), "connects_per_second": round(connects / wall, 1)}


def bench_load(topology: Topology, connects: int, concurrency: int) -> dict[str, float]:
    ns = topology.clients[0]
    argv = [sys.executable, "-m", "ikev2d", "load", topology.gateway_addr, "--json", "-q", "-n", str(connects),
            "-c", str(concurrency), "--user", "load{n}", "--source", SOURCES]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(ns.argv(argv), capture_output=True, text=True, cwd=REPO, timeout=600,
                          env=dict(os.environ, IKEV2D_LOAD_PASSWORD=PASSWORD))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"ikev2d load failed:\n{proc.stdout}{proc.stderr}")
    report = json.loads(proc.stdout)
    whole = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"cpu_ms_per_connect": report["cpu_ms_per_connect"],
            "process_cpu_ms_per_connect": round(whole * 1000 / connects, 2),
            "connects_per_second": report["connects_per_second"],
            "total_p50_ms": report["latency_ms"]["total"]["p50"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connects", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="write the figures here as JSON (no dated result file)")
    args = parser.parse_args()
    users = {f"load{n}": PASSWORD for n in range(1, max(args.connects, 1) + 1)}
    with tempfile.TemporaryDirectory() as tmp, Topology(run_prefix("bl"), 1) as topology:
        first, last = SOURCES.split("-")
        base = first.rsplit(".", 1)[0]
        for n in range(int(first.rsplit(".", 1)[1]), int(last.rsplit(".", 1)[1]) + 1):
            topology.clients[0].add_address("eth0", f"{base}.{n}/24")
        pki = make_lab_pki(Path(tmp) / "pki")
        server = Ikev2d(topology.gateway, Path(tmp) / "ikev2d",
                        lab_config(pki, store=Path(tmp) / "store", knobs=Ikev2dKnobs(users=users, pool_range=POOL)))
        server.start()
        try:
            charon = bench_charon(topology, pki.ca_cert, Path(tmp) / "charon", args.connects)
            ours = bench_load(topology, args.connects, args.concurrency)
        finally:
            server.stop()
    ratio = charon["cpu_ms_per_connect"] / ours["cpu_ms_per_connect"]
    if args.json is not None:
        args.json.write_text(json.dumps({"bench": "bench_load", "connects": args.connects,
                                         "concurrency": args.concurrency, "charon": charon, "ikev2d_load": ours,
                                         "charon_over_ikev2d_load": round(ratio, 2)}, indent=1) + "\n")
        print(f"charon {charon['cpu_ms_per_connect']} ms, ikev2d load {ours['cpu_ms_per_connect']} ms per connect:"
              f" {ratio:.1f}x")
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
    today = datetime.date.today().isoformat()
    text = (f"# bench_load {commit} {today}\n\n"
            f"Machine: {cpu_model}, {os.cpu_count()} CPUs, Linux {platform.release()},"
            f" Python {platform.python_version()}\n"
            f"Server: ikev2d (this tree) in the gateway namespace; {args.connects} connects + deletes,"
            f" EAP-MSCHAPv2, AES-256/SHA-512/MODP-3072; `ikev2d load -c {args.concurrency}`\n\n"
            "| client | CPU ms per connect | connects/s |\n| --- | --- | --- |\n"
            f"| strongSwan charon (VICI initiate + terminate) | {charon['cpu_ms_per_connect']}"
            f" | {charon['connects_per_second']} |\n"
            f"| ikev2d load (its report) | {ours['cpu_ms_per_connect']} | {ours['connects_per_second']} |\n"
            f"| ikev2d load (whole process, with start-up) | {ours['process_cpu_ms_per_connect']} | |\n\n"
            f"Ratio (charon / ikev2d load): {ratio:.1f}x\n\n"
            f"Raw: {json.dumps({'charon': charon, 'ikev2d_load': ours})}\n")
    out = REPO / "bench" / "results" / f"bench_load-{commit}-{today}.md"
    out.write_text(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()

"""ESP at the I/O limit on two cores: ikev2d's data plane in one process on
one core against `--dataplane-workers 2` on two cores (issue 11 point 4),
side by side in one run.

One SA pair is one worker's work in each direction (its sequence counter,
its replay window), so this bench connects two strongSwan clients whose
pairs land in different workers (the daemon places each new pair in the
emptiest worker; should the second land in the first's, it reconnects) and loads both at once, half the offered
rate each, with the harness of bench/esp_gateway.py (same load generators,
counters and core accounting). Sides, alternating run by run:

- 1w-1c: `--dataplane userspace` (one process), pinned to CPU 0;
- 2w-2c: `--dataplane userspace --dataplane-workers 2`, every process on
  CPUs 0-1 (sharing CPU 1 with the load generators and sinks: the machine
  has 2 cores).

Decrypt's offered rate follows what each side delivers (DECRYPT_HEADROOM
above the most it delivered in a saturated decrypt run so far, RAISE above
its previous offer when it kept up; a few calibration runs first):
the ESP generators cannot reach a fixed rate far above what a gateway takes
in, so they spin on CPU 1 (half of it the kernel taking in, in their own
softirq, packets the gateway then drops at its full socket), and the
scheduler moves the second worker off that busy core onto CPU 0: at 350k
offered both workers shared CPU 0 and the gateway got one core's worth
(decrypt 0.99x, every repeat; the workers each took half the traffic).
Each run records what every gateway process and the generators got and
what each worker delivered, so a run where that happens shows it, and how
much CPU everything else on the machine took: the ratios are given over the
pairs where that stayed under DISTURBED (other jobs), and repeats go on
until there are --repeats such pairs per direction (at most --max-repeats).

    sudo .venv/bin/python bench/esp_workers.py [--repeats 3] [--max-repeats 12] [--json FILE] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esp_gateway import (  # noqa: E402
    INSIDE, RCVBUF, SUITES, WARMUP, WINDOW, Figure, _core_times, _dev_counters, _esp_datagrams,
    _grow_receive_buffers, _hex_after, _load, _pin, _ready, esp_length,
)

from lab.ikev2d import Ikev2d, Ikev2dKnobs, lab_config  # noqa: E402
from lab.netns import Topology, run_prefix, stop_process  # noqa: E402
from lab.pki import LabPki, make_lab_pki  # noqa: E402
from lab.strongswan import Charon  # noqa: E402
from lab.swanctl_conf import DEFAULT_USERS, ClientConfig  # noqa: E402

SUITE, SIZE = "CBC+SHA512", 1400
USERS = (("alice", None), ("bob", None))  # the lab configuration's local users
DECRYPT_HEADROOM = 1.1  # decrypt offers this much more than the side delivered in its previous decrypt run
SATURATED = 0.95  # ... when it delivered less than this share of what was offered; else it offers RAISE x more
RAISE = 1.3
CALIBRATION = 4  # decrypt runs per side before the counted ones, to find its rate
DIRECTIONS = ("encrypt", "decrypt")
# a run during which everything else on the machine (other jobs) took this many cores' worth is disturbed;
# the ratios are given over the pairs where neither run was, and repeats go on until there are enough
DISTURBED = 0.15


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the data-plane workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in os.listdir(f"/proc/{p}/task"):
            try:
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
            except FileNotFoundError:
                pass
    return out


MACHINE = set(range(os.cpu_count() or 1))


def _busy_cores(k0: list[int], k1: list[int], cores: int) -> float:
    """Cores' worth busy between two /proc/stat readings (all but idle and iowait)."""
    delta = [b - a for a, b in zip(k0, k1)]
    total = sum(delta) or 1
    return cores * (total - delta[3] - delta[4]) / total


def _cpu(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
            except FileNotFoundError:
                pass
    return total / 1e9


class Gateway:
    """ikev2d with `workers` data-plane processes and two connected clients."""

    def __init__(self, workers: int, pki: LabPki, folder: Path, stack: ExitStack) -> None:
        self.workers = workers
        self.topo = stack.enter_context(Topology(run_prefix(f"w{workers}"), 2))
        self.gw = self.topo.gateway
        _, encryption, hashes = SUITES[SUITE]

        def edit(cfg: dict) -> None:
            for p in cfg["objects"]["ikev2_ipsec_proposals"]:
                p["esp_encryption"], p["esp_hash"] = encryption, hashes
                p["lifetime_kilobytes"] = 2**31 - 1  # a long bench must not outlive the SA (4.6 GB by default)
        cfg = lab_config(pki, store=folder / "pki", knobs=Ikev2dKnobs(edit=edit, logging_level="errors"))
        args = ["--dataplane", "userspace", "--crypto-workers", "0"]
        if workers > 1:
            args += ["--dataplane-workers", str(workers)]
        server = Ikev2d(self.gw, folder / "ikev2d", cfg, extra_args=args)
        stack.callback(server.stop)
        server.start()
        assert server.proc is not None
        self.pid = server.proc.pid
        self.pids = _tree(self.pid)
        self.tuns = ["ikev2d0"] if workers == 1 else [f"ikev2d0w{k}" for k in range(workers)]
        self.clients: list[dict] = []
        self.last: dict = {}  # the last run's per-worker and per-process figures
        for index, (user, password) in enumerate(USERS):
            self.clients.append(self._connect(index, user, password, pki, folder, stack))
        for pid in self.pids:
            if workers == 1 or pid != self.pid:  # the workers', or the one process's, 4500 sockets
                _grow_receive_buffers(pid, 4500, RCVBUF)
        self.cpus: set[int] = set()
        self.use_cpus({0})
        for ns, addr in [(self.gw, INSIDE)] + [(ns, "0.0.0.0") for ns in self.topo.clients]:
            sink = _load(ns, "sink", addr, "9")
            stack.callback(stop_process, sink)  # type: ignore[arg-type]
            _ready(sink)

    def _connect(self, index: int, user: str, password: str | None, pki: LabPki, folder: Path,
                 stack: ExitStack) -> dict:
        ns = self.topo.clients[index]
        for attempt in range(16):
            charon = Charon(ns, folder / f"client{index}-{attempt}", ike_log_level=0)
            stack.callback(charon.stop)
            charon.start()
            conf = charon.conf_path
            conf.write_text(conf.read_text().replace("      ike = 0\n", "      ike = 0\n      chd = 4\n", 1))
            charon.swanctl("--reload-settings")
            charon.load(ClientConfig(local_addr=self.topo.client_addrs[index], ca_cert=pki.ca_cert,
                                     esp_proposals=SUITES[SUITE][0], identity=user,
                                     password=password or DEFAULT_USERS[user]))
            if not charon.initiate().ok:
                raise RuntimeError(f"client {index} did not connect")
            ike = charon.list_sas()[0]
            spi = int(ike.children[0].spi_out, 16)
            if self.workers == 1 or index == 0 or spi % self.workers != self.clients[0]["spi"] % self.workers:
                break
            charon.terminate()  # same worker as the first client's pair: again
            charon.stop()
        else:
            raise RuntimeError("the second client's pair kept landing in the first one's worker")
        log = charon.log()
        assert charon.proc is not None
        _pin(charon.proc.pid, 1)
        return {"ns": ns, "addr": self.topo.client_addrs[index], "vip": ike.local_vips[0], "spi": spi,
                "charon": charon, "pid": charon.proc.pid, "next_seq": 1 << 20,
                "encr_key": _hex_after(log, "encryption initiator key"),
                "integ_key": _hex_after(log, "integrity initiator key")}

    def use_cpus(self, cpus: set[int]) -> None:
        if cpus != self.cpus:
            for pid in self.pids:
                _pin(pid, cpus)
            self.cpus = set(cpus)

    def alive(self) -> bool:
        return all(Path(f"/proc/{p}").exists() for p in self.pids) and all(
            c["charon"].list_sas() for c in self.clients)

    def run(self, direction: str, rate: float) -> Figure:
        seconds = WARMUP + WINDOW + 0.2
        loads = []
        for c in self.clients:
            if direction == "encrypt":
                loads.append(_load(self.gw, "plain", INSIDE, c["vip"], str(SIZE), str(rate / 2), str(seconds)))
            else:
                load = _load(c["ns"], "esp", c["addr"], self.topo.gateway_addr, c["vip"], INSIDE, str(SIZE),
                             str(rate / 2), str(seconds))
                assert load.stdin is not None
                load.stdin.write(json.dumps({"spi": c["spi"], "seq": c["next_seq"], "suite": SUITE,
                                             "encr_key": c["encr_key"].hex(), "integ_key": c["integ_key"].hex()})
                                 + "\n")
                load.stdin.flush()
                c["next_seq"] += int(rate / 2 * seconds) + 1
                loads.append(load)
        esp = esp_length(SUITE, SIZE)

        def count() -> int:
            if direction == "encrypt":
                return sum(_esp_datagrams(c["pid"], "eth0", esp) for c in self.clients)
            return sum(_dev_counters(self.pid, tun)[0] for tun in self.tuns)
        def per_worker() -> list[int]:  # each worker's delivery (decrypt: into its TUN; encrypt: out of it)
            return [_dev_counters(self.pid, tun)[0 if direction == "decrypt" else 1] for tun in self.tuns]
        load_pids = [load.pid for load in loads]
        paused = [c["pid"] for c in self.clients]
        try:
            for load in loads:
                _ready(load)
            for pid in paused:
                os.kill(pid, 19)  # SIGSTOP: the clients' charons cost nothing during the window
            for load in loads:
                assert load.stdin is not None
                load.stdin.write("go\n")
                load.stdin.flush()
            time.sleep(WARMUP)
            a, t0, c0, k0 = count(), time.monotonic(), _cpu(self.pids), _core_times(self.cpus)
            per0, p0, l0 = per_worker(), {p: _cpu([p]) for p in self.pids}, _cpu(load_pids)
            m0 = _core_times(MACHINE)
            time.sleep(WINDOW)
            b, t1, c1, k1 = count(), time.monotonic(), _cpu(self.pids), _core_times(self.cpus)
            per1, p1, l1 = per_worker(), {p: _cpu([p]) for p in self.pids}, _cpu(load_pids)
            m1 = _core_times(MACHINE)
            sent = 0.0
            for load in loads:
                assert load.stdout is not None
                n, s = load.stdout.readline().split()
                sent += int(n) / float(s)
        finally:
            for pid in paused:
                os.kill(pid, 18)  # SIGCONT
            for load in loads:
                stop_process(load)  # type: ignore[arg-type]
        settle = time.monotonic()
        while time.monotonic() - settle < 60:  # let the gateway work off what it queued
            x = _cpu(self.pids)
            time.sleep(0.2)
            if _cpu(self.pids) - x < 0.01:
                break
        ticks = sum(k1) - sum(k0) or 1
        core = {name: (y - x) / ticks for name, x, y in zip(("user", "nice", "system", "idle", "iowait", "irq",
                                                              "softirq", "steal"), k0, k1)}
        seconds = t1 - t0
        self.last = {
            "per_worker_pps": [(y - x) / seconds for x, y in zip(per0, per1)],
            "process_cpu": {str(p): (p1[p] - p0[p]) / seconds for p in self.pids},
            "load_cpu": (l1 - l0) / seconds,
            # cores' worth the machine spent on anything but this gateway and its generators (other
            # jobs, and kernel work no process is charged with): the run's disturbance
            "others_cpu": _busy_cores(m0, m1, len(MACHINE)) - (c1 - c0 + l1 - l0) / seconds,
        }
        return Figure((b - a) / seconds, sent, SIZE, (c1 - c0) / seconds / len(self.cpus), core,
                      time.monotonic() - settle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="undisturbed pairs wanted per direction")
    parser.add_argument("--max-repeats", type=int, default=12, help="repeats at most, disturbed or not")
    parser.add_argument("--rate", type=float, default=350_000, help="encrypt: offered packets/s over both clients")
    parser.add_argument("--decrypt-rate", type=float, default=120_000,
                        help="decrypt: the first calibration run's offered packets/s (then it follows delivery)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    load_start = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="bench-espw-"))
    pki = make_lab_pki(folder / "pki")
    sides = {"1w-1c": (1, {0}), "2w-2c": (2, {0, 1})}
    runs: list[dict] = []
    with ExitStack() as stack:
        gws = {label: Gateway(w, pki, folder / label, stack) for label, (w, _) in sides.items()}
        decrypt_rate = {label: args.decrypt_rate for label in sides}
        best = {label: 0.0 for label in sides}  # the most each side delivered in a saturated decrypt run
        calibration: list[dict] = []

        def one(label: str, direction: str, rep: int, into: list[dict]) -> None:
            gw = gws[label]
            gw.use_cpus(sides[label][1])
            rate = args.rate if direction == "encrypt" else decrypt_rate[label]
            fig = gw.run(direction, rate)
            if not gw.alive():
                raise RuntimeError(f"{label}: a gateway process or a client's SA is gone")
            if direction == "decrypt":
                # saturated: offer a little more than the most it took so far (a run disturbed by other
                # jobs does not lower the next ones' offer); kept up: look higher
                if fig.pps < SATURATED * fig.offered:
                    best[label] = max(best[label], fig.pps)
                    decrypt_rate[label] = DECRYPT_HEADROOM * best[label]
                else:
                    decrypt_rate[label] = max(RAISE * rate, DECRYPT_HEADROOM * best[label])
            into.append({"side": label, "rep": rep, "dir": direction, "pps": fig.pps, "mbps": fig.mbps,
                         "asked": rate, "offered": fig.offered, "cpu": fig.cpu, "core": fig.core,
                         "settle": fig.settle, **gw.last})
            print(f"{f'run {rep + 1}' if rep >= 0 else f'calibration {-rep}'} {label} "
                  f"{direction}: {fig.pps:.0f} pkt/s "
                  f"{fig.mbps:.0f} Mbit/s (offered {fig.offered:.0f}; gateway on {100 * fig.cpu:.0f}% of "
                  f"its {len(sides[label][1])} core(s), idle {100 * fig.core['idle']:.0f}%, "
                  f"steal {100 * fig.core['steal']:.0f}%; per worker "
                  f"{' '.join(f'{x:.0f}' for x in gw.last['per_worker_pps'])} pkt/s, processes "
                  f"{' '.join(f'{100 * x:.0f}%' for x in gw.last['process_cpu'].values())}, generators "
                  f"{100 * gw.last['load_cpu']:.0f}%, others {100 * gw.last['others_cpu']:.0f}%)",
                  file=sys.stderr, flush=True)

        for rep in range(CALIBRATION):
            for label in sides:
                one(label, "decrypt", -1 - rep, calibration)
        def clean(direction: str, rep: int) -> bool:
            return all(r["others_cpu"] < DISTURBED for r in runs if r["dir"] == direction and r["rep"] == rep)

        rep = 0
        while rep < args.max_repeats and min(sum(clean(d, k) for k in range(rep)) for d in DIRECTIONS) < args.repeats:
            order = list(sides) if rep % 2 == 0 else list(sides)[::-1]
            for direction in DIRECTIONS:
                for label in order:
                    one(label, direction, rep, runs)
            rep += 1
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    med = statistics.median

    def summary(which: str, keep: Callable[[str, int], bool]) -> list[str]:
        lines = [f"{which}:", "",
                 "| dir | pairs | 1 process, 1 core Mbit/s | 2 workers, 2 cores Mbit/s | 2w-2c / 1w-1c, run by run "
                 "(median, min-max) | cores' worth the gateway got, 1w / 2w | per core-worth, 2w / 1w |",
                 "| --- | --- | --- | --- | --- | --- | --- |"]
        for direction in DIRECTIONS:
            kept = [r for r in runs if r["dir"] == direction and keep(direction, r["rep"])]
            one = {r["rep"]: r for r in kept if r["side"] == "1w-1c"}
            two = {r["rep"]: r for r in kept if r["side"] == "2w-2c"}
            if not one:
                lines.append(f"| {direction} | 0 | | | | | |")
                continue
            ratios = [two[k]["mbps"] / one[k]["mbps"] for k in one if one[k]["mbps"]]
            # cores' worth of CPU the gateway's processes got (core share x cores)
            got = {side: med([r["cpu"] * len(sides[side][1]) for r in kept if r["side"] == side]) for side in sides}
            per_core = [(two[k]["mbps"] / (two[k]["cpu"] * 2)) / (one[k]["mbps"] / one[k]["cpu"])
                        for k in one if one[k]["cpu"] and two[k]["cpu"]]
            a = [r["mbps"] for r in one.values()]
            b = [r["mbps"] for r in two.values()]
            lines.append(f"| {direction} | {len(one)} | {med(a):.0f} ({min(a):.0f}-{max(a):.0f}) "
                         f"| {med(b):.0f} ({min(b):.0f}-{max(b):.0f}) "
                         f"| {med(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) "
                         f"| {got['1w-1c']:.2f} / {got['2w-2c']:.2f} | {med(per_core):.2f} |")
        return lines

    lines = summary(f"Undisturbed pairs (both runs with everything else under {DISTURBED:.2f} cores' worth)", clean)
    lines += [""] + summary("Every pair", lambda d, k: True)
    others = med(r["others_cpu"] for r in runs)
    lines.append(f"\nEverything but the gateway and its generators (other jobs, unattributed kernel work) took "
                 f"{others:.2f} cores' worth in the median run (max {max(r['others_cpu'] for r in runs):.2f}).")
    table = "\n".join(lines)
    print(table)

    def row(r: dict) -> str:
        rep = f"rep {r['rep'] + 1}" if r["rep"] >= 0 else f"calibration {-r['rep']}"
        return (f"- {r['side']} {r['dir']} {rep}: {r['pps']:.0f} pkt/s, {r['mbps']:.0f} Mbit/s, offered "
                f"{r['offered']:.0f} (asked {r['asked']:.0f}), core share {100 * r['cpu']:.0f}%, idle "
                f"{100 * r['core']['idle']:.0f}%, steal {100 * r['core']['steal']:.0f}%; per worker "
                f"{' / '.join(f'{x:.0f}' for x in r['per_worker_pps'])} pkt/s; each gateway process "
                f"{' / '.join(f'{100 * x:.0f}%' for x in r['process_cpu'].values())} of a core; generators "
                f"{100 * r['load_cpu']:.0f}% of a core; everything else {100 * r['others_cpu']:.0f}% of a core")
    if args.markdown:
        load = os.getloadavg()
        args.markdown.write_text(f"# bench/esp_workers.py: {SUITE}, {SIZE} B, two clients, {rep} "
                                 f"alternating repeats\n\nload average (1/5/15 min) at the start {load_start[0]:.1f} / "
                                 f"{load_start[1]:.1f} / {load_start[2]:.1f}, at the end {load[0]:.1f} / {load[1]:.1f} / "
                                 f"{load[2]:.1f}; nproc {os.cpu_count()}; the machine is shared with "
                                 f"other jobs: ratios within this run only. Encrypt offered {args.rate:.0f} "
                                 f"pkt/s; decrypt offered {DECRYPT_HEADROOM:.2f}x the most the side delivered in a "
                                 f"saturated decrypt run so far, or {RAISE:.2f}x its previous offer when it kept up ({CALIBRATION} calibration runs "
                                 f"per side first, from "
                                 f"{args.decrypt_rate:.0f}).\n\n{table}\n\nEvery run:\n\n"
                                 + "\n".join(row(r) for r in calibration + runs) + "\n")
    if args.json:
        args.json.write_text(json.dumps({"suite": SUITE, "size": SIZE, "rate": args.rate,
                                         "decrypt_headroom": DECRYPT_HEADROOM, "calibration": calibration,
                                         "runs": runs}, indent=1))


if __name__ == "__main__":
    main()

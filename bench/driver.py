"""The benchmark driver: `python -m bench` (root, not a test).

    sudo .venv/bin/python -m bench [--only handshake,esp,memory,memory-traffic,load] [--quick] [--out DIR] [--list]
                                   [--bench-args NAME='ARGS' ...]

Runs, in one run on this machine, each selected benchmark as a subprocess
with `--json FILE` (ikev2d beside strongSwan inside each, alternating
repeats), plus the crypto-only ceiling of a connect (bench/ceiling.py), and
writes one dated result pair to DIR (default bench/results/):
YYYY-MM-DD-<git short rev>[-quick].md and .json, with the machine, each
bench's ceilings, every sample, medians and ratios, and a summary table
with the ratios first. A name taken already gets -2, -3, ...

A benchmark is an entry of REGISTRY: its script, its arguments (full and
--quick), how many times to run it, and a function that turns its JSON
documents into a Section (rows of medians and ratios, named ceilings, and
Markdown lines with every sample). A script missing from this tree is
reported as such and the run goes on; so is one that fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SHARED_NOTE = ("The machine is shared (other jobs' tests and builds ran beside this run, on its {cores} cores): "
               "absolute figures drift from run to run; compare ikev2d and strongSwan within this run "
               "only, as ratios (each bench alternates the two, repeat by repeat).")
SUITE_NAMES = {"CBC+SHA512": "AES-256-CBC + HMAC-SHA-512/256", "GCM": "AES-256-GCM-16"}


# -- what a summarizer returns ---------------------------------------------------

@dataclass
class Row:
    """One figure of ikev2d beside strongSwan's (medians over the samples)."""

    metric: str
    unit: str
    higher_is_better: bool
    ours: float | None
    theirs: float | None
    ratio: float | None = None  # ours / theirs: median of the pairs measured back to back
    ceiling: float | None = None
    ceiling_key: str | None = None  # filled from the run's ceilings by that name when `ceiling` is None
    samples: int = 0
    headline: bool = False  # in the summary table
    note: str = ""

    @property
    def pct_of_ceiling(self) -> float | None:
        """How close ikev2d comes to the crypto-only ceiling, in percent: its
        throughput over the ceiling's, or the ceiling's cost over its cost."""
        if self.ceiling is None or not self.ours:
            return None
        share = self.ours / self.ceiling if self.higher_is_better else self.ceiling / self.ours
        return 100 * share


@dataclass
class Section:
    rows: list[Row] = field(default_factory=list)
    ceilings: dict[str, float] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)  # Markdown: ceilings and every sample


@dataclass
class Run:
    """One subprocess of a bench."""

    argv: list[str]
    returncode: int
    seconds: float
    doc: Any  # its --json output, None if it wrote none
    stdout: str
    stderr_tail: str


Summarizer = Callable[[list[Run]], Section]


@dataclass(frozen=True)
class Bench:
    name: str
    script: str  # relative to the repository
    summarize: Summarizer
    args: tuple[str, ...] = ()
    quick_args: tuple[str, ...] = ()
    runs: int = 1  # subprocesses, each its own samples (for benches that take one sample per run)
    quick_runs: int = 1
    needs_root: bool = True
    timeout: float = 3600.0
    what: str = ""

    def argv(self, json_file: Path, quick: bool, extra: Sequence[str] = ()) -> list[str]:
        """The command line; "{tmp}" in an argument is the run's scratch folder
        (for files a bench would otherwise write into bench/results/). `extra`
        (--bench-args) comes after the entry's own: argparse keeps the last."""
        args = [a.replace("{tmp}", str(json_file.parent))
                for a in (*(self.quick_args if quick else self.args), *extra)]
        return [sys.executable, str(REPO / self.script), *args, "--json", str(json_file)]


# -- helpers ---------------------------------------------------------------------

def median(xs: Iterable[float]) -> float | None:
    values = list(xs)
    return statistics.median(values) if values else None


def pair_ratio(ours: Sequence[float], theirs: Sequence[float]) -> float | None:
    """Median of ours[i] / theirs[i]: each pair measured back to back, so the
    machine's drift between pairs cancels."""
    return median(a / b for a, b in zip(ours, theirs) if b)


def fmt(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


def fmt_range(xs: Sequence[float]) -> str:
    if not xs:
        return "-"
    med = median(xs)
    return f"{fmt(med)} ({fmt(min(xs))}-{fmt(max(xs))})" if len(xs) > 1 else fmt(med)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


# -- summarizers -----------------------------------------------------------------

def summarize_ceiling(runs: list[Run]) -> Section:
    docs = [r.doc for r in runs if isinstance(r.doc, dict)]
    samples = [s for d in docs for s in d.get("handshake_ms_samples", [])]
    if not samples:
        return Section(lines=["No ceiling measured."])
    value = median(samples)
    assert value is not None
    return Section(
        ceilings={"handshake_ms": value},
        lines=[f"Crypto-only ceiling of one connect ({docs[0].get('suite', '')}), one core: "
               f"**{fmt(value, 3)} ms** median of {len(samples)} batches "
               f"({', '.join(fmt(s, 3) for s in samples)})."])


def esp_mbps(rec: dict[str, Any]) -> float:
    if "mbps" in rec:
        return float(rec["mbps"])
    return float(rec["pps"]) * int(rec["size"]) * 8 / 1e6


def esp_docs(runs: list[Run]) -> list[dict[str, Any]]:
    """bench_esp.py's --json documents: one object per run (bench, machine,
    load_before/after, args, ceilings[], runs[], summary[])."""
    return [r.doc for r in runs if isinstance(r.doc, dict) and r.doc.get("bench") == "bench_esp"]


def _esp_key(rec: dict[str, Any]) -> tuple[str, int, str]:
    return rec["suite"], int(rec["size"]), rec["dir"]


def _esp_order(key: tuple[str, int, str]) -> tuple[str, int, bool]:
    return key[0], key[1], key[2] != "encrypt"  # encrypt before decrypt


def _cores_label(n: int) -> str:
    return f"{n} core{'s' if n > 1 else ''}"


def summarize_esp(runs: list[Run]) -> Section:
    """bench_esp.py --io: ikev2d's userspace gateway on 1 and 2 cores beside
    strongSwan's kernel-libipsec on 1, and the in-process crypto-only
    ceiling of the same run. Figures from its summary[] (medians and
    run-by-run ratios it computed); every gateway run from its runs[]."""
    section = Section()
    docs = esp_docs(runs)
    if not docs:
        section.lines.append("No bench_esp JSON object in its output; see the raw documents in the .json file.")
        return section
    ceilings: dict[tuple[str, int, str], list[float]] = {}
    summaries: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    records: list[dict[str, Any]] = []
    for doc in docs:
        for c in doc.get("ceilings", []):
            ceilings.setdefault(_esp_key(c), []).append(float(c["mbps"]))
        for rec in doc.get("summary", []):
            summaries.setdefault(_esp_key(rec), []).append(rec)
        records += doc.get("runs", [])
    for (suite, size, d), values in ceilings.items():
        value = median(values)
        assert value is not None
        section.ceilings[f"esp {suite} {size} {d}"] = value

    def med(recs: list[dict[str, Any]], key: str) -> float | None:
        return median(float(r[key]) for r in recs if r.get(key) is not None)

    multi = sorted({int(m[1]) for recs in summaries.values() for r in recs for k in r
                    if (m := re.fullmatch(r"ikev2d_(\d+)core_over_1core", k))})
    for key in sorted(summaries, key=_esp_order):
        suite, size, d = key
        recs = summaries[key]
        what = f"ESP {d}, {SUITE_NAMES.get(suite, suite)}, {size} B"
        headline = suite == "CBC+SHA512" and size == 1400
        per_core = med(recs, "ikev2d_1core_per_core_of_ceiling")
        pps = med(recs, "ikev2d_1core_pps_per_core")
        section.rows.append(Row(
            metric=f"{what}, 1 core", unit="Mbit/s", higher_is_better=True, ours=med(recs, "ikev2d_1core_mbps"),
            theirs=med(recs, "strongswan_1core_mbps"), ratio=med(recs, "ikev2d_over_strongswan"),
            ceiling_key=f"esp {suite} {size} {d}",
            samples=sum(1 for r in records if _esp_key(r) == key and r["gateway"] == "ikev2d"), headline=headline,
            note=(f"per core (pkt/s over the core share its threads got): {fmt(pps)} pkt/s, "
                  f"{100 * per_core:.0f}% of the ceiling" if pps is not None and per_core is not None else "")))
        for n in multi:
            scale = med(recs, f"ikev2d_{n}core_over_1core")
            section.rows.append(Row(
                metric=f"{what}, {_cores_label(n)} ({fmt(scale)}x the 1-core figure; strongSwan on 1)",
                unit="Mbit/s", higher_is_better=True, ours=med(recs, f"ikev2d_{n}core_mbps"),
                theirs=med(recs, "strongswan_1core_mbps"), ceiling_key=f"esp {suite} {size} {d}",
                samples=sum(1 for r in records if _esp_key(r) == key and r["gateway"] == f"ikev2d-{n}c"),
                headline=headline,
                note=f"{_cores_label(n)} / 1 core, run by run: {fmt(scale)}x (issue 11: >= 1.7x)"))
    if ceilings:
        section.lines += ["Crypto-only ceiling (cryptography's primitives alone, in-process, one core), Mbit/s:", ""]
        section.lines += table(["suite", "size B", "dir", "ceiling"],
                               [[s, str(z), d, fmt(section.ceilings[f"esp {s} {z} {d}"])]
                                for s, z, d in sorted(ceilings, key=_esp_order)])
        section.lines.append("")
    if summaries:
        header = ["suite", "size B", "dir", "ceiling", "ikev2d 1 core", "% of ceiling", "pkt/s per core",
                  "per core % of ceiling"]
        for n in multi:
            header += [f"ikev2d {_cores_label(n)}", f"{n}c / 1c"]
        header += ["strongSwan 1 core", "ikev2d / strongSwan"]
        cells = []
        for key in sorted(summaries, key=_esp_order):
            recs = summaries[key]
            share, per_core = med(recs, "ikev2d_1core_of_ceiling"), med(recs, "ikev2d_1core_per_core_of_ceiling")
            line = [key[0], str(key[1]), key[2], fmt(med(recs, "ceiling_mbps")), fmt(med(recs, "ikev2d_1core_mbps")),
                    f"{100 * share:.0f}%" if share is not None else "-", fmt(med(recs, "ikev2d_1core_pps_per_core")),
                    f"{100 * per_core:.0f}%" if per_core is not None else "-"]
            for n in multi:
                line += [fmt(med(recs, f"ikev2d_{n}core_mbps")), f"{fmt(med(recs, f'ikev2d_{n}core_over_1core'))}x"]
            line += [fmt(med(recs, "strongswan_1core_mbps")), f"{fmt(med(recs, 'ikev2d_over_strongswan'))}x"]
            cells.append(line)
        section.lines += ["bench_esp's summary (Mbit/s, medians; ratios are medians of run-by-run ratios; per core: "
                          "packets/s over the cores' worth the gateway's threads got):", ""]
        section.lines += table(header, cells) + [""]
    shares = [float(r["cpu"]) for r in records if "cpu" in r and int(r.get("cores", 1)) == 1]
    if shares and statistics.median(shares) < 0.9:
        section.lines += [f"**Disturbed run**: the one-core gateways' threads got only "
                          f"{100 * statistics.median(shares):.0f} % of their core (median; other jobs took the rest), "
                          "so these figures are far below what this machine does alone, and the ceiling, measured "
                          "under the same load, is low too. The ratios, the gateways alternating under the same "
                          "load, and the per-core figure are the ones to read.", ""]
    if records:
        gateways = sorted({r["gateway"] for r in records}, key=lambda g: (g == "strongswan", g))
        by: dict[tuple[str, int, str, str], list[dict[str, Any]]] = {}
        for r in records:
            by.setdefault((*_esp_key(r), r["gateway"]), []).append(r)
        cells = []
        for key in sorted({_esp_key(r) for r in records}, key=_esp_order):
            for i in range(max(len(by.get((*key, g), [])) for g in gateways)):
                row = [key[0], str(key[1]), key[2], str(i + 1)]
                for g in gateways:
                    got = by.get((*key, g), [])
                    rec = got[i] if i < len(got) else None
                    row += [fmt(esp_mbps(rec)), f"{100 * float(rec.get('cpu', 0)):.0f}%"] if rec else ["-", "-"]
                cells.append(row)
        section.lines += ["Every gateway run, as measured (run i of each gateway back to back, alternating which goes "
                          "first; core share: the gateway's threads' share of its cores):", ""]
        section.lines += table(["suite", "size B", "dir", "run",
                                *[c for g in gateways for c in (f"{g} Mbit/s", f"{g} core share")]], cells)
    return section


def summarize_handshake(runs: list[Run]) -> Section:
    """bench_handshake.py: server CPU per connect + delete, ikev2d vs charon's
    responder, the same `ikev2d load` clients, on 1 and 2 cores."""
    section = Section()
    samples = [s for r in runs if isinstance(r.doc, dict) for s in r.doc.get("samples", [])]
    for r in runs:
        if isinstance(r.doc, dict) and r.doc.get("ceiling_ms"):
            section.ceilings["handshake_ms"] = float(r.doc["ceiling_ms"])
    charon = {(s.get("repeat"), s["cores"]): s for s in samples if s["server"] == "charon"}
    servers = sorted({(s["server"], s["cores"]) for s in samples if s["server"] != "charon"})
    for name, cores in servers:
        ours = [s for s in samples if s["server"] == name and s["cores"] == cores]
        pairs = [(s, charon[(s.get("repeat"), cores)]) for s in ours if (s.get("repeat"), cores) in charon]
        theirs = [s for s in samples if s["server"] == "charon" and s["cores"] == cores]
        label = f"{cores} core{'s' if cores > 1 else ''}" + ("" if name == "ikev2d" else f", {name}")
        section.rows.append(Row(
            metric=f"Handshake: server CPU per connect + delete, {label}", unit="ms", higher_is_better=False,
            ours=median(s["cpu_ms_per_connect"] for s in ours),
            theirs=median(s["cpu_ms_per_connect"] for s in theirs),
            ratio=pair_ratio([o["cpu_ms_per_connect"] for o, _ in pairs], [t["cpu_ms_per_connect"] for _, t in pairs]),
            ceiling_key="handshake_ms", samples=len(ours), headline=name == "ikev2d" and cores == 1))
        section.rows.append(Row(
            metric=f"Handshake: connects/s, {label}", unit="connects/s", higher_is_better=True,
            ours=median(s["connects_per_second"] for s in ours),
            theirs=median(s["connects_per_second"] for s in theirs),
            ratio=pair_ratio([o["connects_per_second"] for o, _ in pairs],
                             [t["connects_per_second"] for _, t in pairs]),
            samples=len(ours)))
    if samples:
        section.lines += ["Every sample, in run order (CPU: utime + stime of the server and its descendants):", ""]
        section.lines += table(
            ["#", "repeat", "server", "cores", "CPU ms per connect", "main process ms", "connects/s", "p50 ms"],
            [[str(i), str(s.get("repeat", "-")), s["server"], str(s["cores"]), fmt(s["cpu_ms_per_connect"]),
              fmt(s.get("main_cpu_ms_per_connect")), fmt(s.get("connects_per_second")),
              fmt(s.get("latency_ms", {}).get("total", {}).get("p50"))] for i, s in enumerate(samples, 1)])
    return section


def summarize_memory(runs: list[Run]) -> Section:
    """bench_memory.py: RSS per held session, ikev2d vs charon's responder,
    each held by the same `ikev2d load`: {"ikev2d": {...}, "charon": {...}}
    with kib_per_session ((RSS held - before) / held) and the ramp's slope."""
    section = Section()
    docs = [r.doc for r in runs if isinstance(r.doc, dict) and isinstance(r.doc.get("ikev2d"), dict)]
    if not docs:
        keys = sorted({k for r in runs if isinstance(r.doc, dict) for k in r.doc})
        section.lines.append(f"No ikev2d figure in its JSON (keys: {', '.join(keys) or 'none'}); "
                             "see the raw JSON in the .json file.")
        return section
    ours = [d["ikev2d"] for d in docs]
    theirs = [d["charon"] for d in docs if isinstance(d.get("charon"), dict)]
    held = sorted({str(x.get("sessions_held")) for x in ours + theirs})
    # bench_memory --ping: every session carried an echo each way before the hold
    traffic = " that has carried traffic" if any(d.get("ping") for d in docs) else ""
    for key, what, headline in (("kib_per_session", f"RSS per held session{traffic}", True),
                                ("slope_kib_per_session", f"RSS slope per session{traffic} (second half of the ramp)",
                                 False)):
        mine = [float(x[key]) for x in ours if x.get(key) is not None]
        other = [float(x[key]) for x in theirs if x.get(key) is not None]
        section.rows.append(Row(
            metric=f"Memory: {what}", unit="KiB", higher_is_better=False, ours=median(mine), theirs=median(other),
            ratio=pair_ratio(mine, other) if len(mine) == len(other) else None, samples=len(mine),
            headline=headline, note=f"sessions held: {', '.join(held)}"))
    section.lines += ["Every sample (sessions held by `ikev2d load --hold`; RSS of the daemon's main process, "
                      "which the per-session figures are of; its workers' RSS beside):", ""]
    section.lines += table(
        ["#", "server", "sessions held", "RSS before KiB", "RSS held KiB", "KiB per session", "slope KiB/session",
         "workers' RSS held KiB"],
        [[str(i), x.get("server", "-"), str(x.get("sessions_held", "-")), str(x.get("rss_before_kib", "-")),
          str(x.get("rss_held_kib", "-")), fmt(x.get("kib_per_session")), fmt(x.get("slope_kib_per_session")),
          " + ".join(str(w) for w in x.get("workers_rss_held_kib") or []) or "-"]
         for i, x in enumerate([y for d in docs for y in (d["ikev2d"], d.get("charon")) if isinstance(y, dict)], 1)])
    return section


def summarize_load(runs: list[Run]) -> Section:
    """bench_load.py: client CPU per connect, `ikev2d load` vs charon as a
    client, against the same ikev2d; one sample of each per run."""
    section = Section()
    docs = [r.doc for r in runs if isinstance(r.doc, dict) and "charon" in r.doc]
    if not docs:
        return section
    ours = [d["ikev2d_load"]["cpu_ms_per_connect"] for d in docs]
    whole = [d["ikev2d_load"]["process_cpu_ms_per_connect"] for d in docs]
    theirs = [d["charon"]["cpu_ms_per_connect"] for d in docs]
    section.rows.append(Row(
        metric="Load generator: client CPU per connect + delete (`ikev2d load` vs charon as a client)", unit="ms",
        higher_is_better=False, ours=median(ours), theirs=median(theirs), ratio=pair_ratio(ours, theirs),
        samples=len(docs), headline=True, note="no ceiling: a client's crypto differs from a responder's"))
    section.rows.append(Row(
        metric="Load generator: the same, `ikev2d load`'s whole process with Python's start-up", unit="ms",
        higher_is_better=False, ours=median(whole), theirs=median(theirs), ratio=pair_ratio(whole, theirs),
        samples=len(docs)))
    section.lines += ["Every run (charon first, then `ikev2d load`, against the same ikev2d):", ""]
    section.lines += table(
        ["#", "connects", "charon ms", "charon connects/s", "ikev2d load ms", "whole process ms",
         "ikev2d load connects/s"],
        [[str(i), str(d.get("connects", "-")), fmt(d["charon"]["cpu_ms_per_connect"]),
          fmt(d["charon"]["connects_per_second"]), fmt(d["ikev2d_load"]["cpu_ms_per_connect"]),
          fmt(d["ikev2d_load"]["process_cpu_ms_per_connect"]), fmt(d["ikev2d_load"]["connects_per_second"])]
         for i, d in enumerate(docs, 1)])
    return section


def summarize_floor(runs: list[Run]) -> Section:
    """esp_floor.py: per direction, the crypto-only ceiling, the floor (the
    least a Python plane does per packet with the kernel's I/O) and ikev2d's
    plane on the same core and traffic; medians of the rounds of each run."""
    section = Section()
    docs = [r.doc for r in runs if isinstance(r.doc, dict) and isinstance(r.doc.get("results"), list)]
    if not docs:
        return section
    mbps: dict[tuple[str, str], list[float]] = {}
    for doc in docs:
        for rec in doc["results"]:
            mbps.setdefault((rec["path"], rec["direction"]), []).append(float(rec["mbps"]))
    for d in ("encrypt", "decrypt"):
        ceiling, floor, ours = (median(mbps.get((p, d), [])) for p in ("ceiling", "floor", "ikev2d"))
        if floor is None:
            continue
        of_floor = f"; ikev2d's plane {100 * ours / floor:.0f} % of the floor" if ours else ""
        section.rows.append(Row(
            metric=f"ESP floor, {d}: the least a Python data plane does per packet, with the kernel's I/O "
                   "(1400 B CBC+SHA512, one core)", unit="Mbit/s", higher_is_better=True, ours=floor, theirs=None,
            ceiling=ceiling, samples=len(docs), headline=True,
            note=f"not ikev2d: the bound any pure-Python plane meets here{of_floor}"))
        section.rows.append(Row(
            metric=f"ESP {d}, ikev2d's userspace plane beside the floor (same core, veth and traffic)", unit="Mbit/s",
            higher_is_better=True, ours=ours, theirs=None, ceiling=ceiling, samples=len(docs)))
    section.lines += ["Every round (Mbit/s; each run's paths alternate round by round):", ""]
    section.lines += table(
        ["run", "path", "direction", "Mbit/s per round"],
        [[str(i), rec["path"], rec["direction"], ", ".join(fmt(s * doc["size"] * 8 / 1e6, 0) for s in rec["samples"])]
         for i, doc in enumerate(docs, 1) for rec in doc["results"]])
    return section


# -- the registry ----------------------------------------------------------------
# To plug a bench in: a script taking `--json FILE` and a summarizer of its
# JSON documents. Order is run order; "ceiling" runs whenever anything does.

CEILING = Bench("ceiling", "bench/ceiling.py", summarize_ceiling, args=("--rounds", "100"),
                quick_args=("--rounds", "20"), needs_root=False, timeout=300,
                what="crypto-only ceiling of one connect (responder's crypto, one core)")

REGISTRY: tuple[Bench, ...] = (
    Bench("handshake", "bench/bench_handshake.py", summarize_handshake,
          args=("--connects", "300", "--repeats", "3", "--markdown", "{tmp}/handshake.md"),
          quick_args=("--connects", "40", "--repeats", "1", "--markdown", "{tmp}/handshake.md"),
          timeout=3 * 3600, what="server CPU per connect + delete, ikev2d vs charon's responder, 1 and 2 cores"),
    Bench("esp", "bench/bench_esp.py", summarize_esp, args=("--io", "--markdown", "--repeats", "5"),
          quick_args=("--io", "--markdown", "--repeats", "2"), timeout=2 * 3600,
          what="ESP at 1400 B (AES-256-CBC + HMAC-SHA-512/256), ikev2d userspace on 1 and 2 cores vs strongSwan "
               "kernel-libipsec on 1, against the crypto-only ceiling of the same run"),
    Bench("esp-floor", "bench/esp_floor.py", summarize_floor, args=("--rounds", "7"),
          quick_args=("--rounds", "3"), runs=3, quick_runs=1, timeout=900,
          what="ESP at 1400 B on one core: the crypto-only ceiling, the floor a Python data plane cannot go under "
               "(its unavoidable calls with the kernel's real I/O) and ikev2d's plane, side by side"),
    Bench("memory", "bench/bench_memory.py", summarize_memory,
          args=("--sessions", "10000", "--charon-sessions", "2000", "--markdown", "{tmp}/memory.md"),
          quick_args=("--sessions", "500", "--charon-sessions", "500", "--breakdown-sessions", "0",
                      "--markdown", "{tmp}/memory.md"), timeout=2 * 3600,
          what="RSS per held session, ikev2d vs charon"),
    Bench("memory-traffic", "bench/bench_memory.py", summarize_memory,
          args=("--sessions", "10000", "--charon-sessions", "2000", "--ping", "--breakdown-sessions", "0",
                "--markdown", "{tmp}/memory-traffic.md"),
          quick_args=("--sessions", "500", "--charon-sessions", "500", "--ping", "--breakdown-sessions", "0",
                      "--markdown", "{tmp}/memory-traffic.md"), timeout=2 * 3600,
          what="RSS per held session that has carried traffic (one ping through each tunnel), ikev2d vs charon"),
    Bench("load", "bench/bench_load.py", summarize_load, args=("--connects", "100"),
          quick_args=("--connects", "20"), runs=3, quick_runs=1, timeout=1800,
          what="client CPU per connect, `ikev2d load` vs charon as a client"),
)


# -- the machine -----------------------------------------------------------------

def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO)
    return done.stdout.strip() if done.returncode == 0 else ""


def _version(dist: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor() or "unknown")
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    charon = Path("/usr/lib/ipsec/charon")
    swan = (subprocess.run([str(charon), "--version"], capture_output=True, text=True).stdout.strip()
            if charon.exists() else "")
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), 0) if Path("/proc/meminfo").exists() else 0
    return {
        "cpu": model,
        "cpu_flags": [f for f in ("aes", "vaes", "sha_ni", "avx2", "avx512f") if f in flags],
        "cores": os.cpu_count(),
        "memory_mb": mem // 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libraries": {d: _version(d) for d in ("ikev2d", "cryptography", "gmpy2", "pyroute2", "scapy")},
        "strongswan": swan or None,
        "git_rev": _git("rev-parse", "--short", "HEAD") or "unknown",
        "git_dirty": bool(_git("status", "--porcelain")),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else [],
    }


def machine_lines(m: dict[str, Any]) -> list[str]:
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    return [
        f"- CPU: {m['cpu']} ({', '.join(m['cpu_flags']) or 'no AES/SHA extensions seen'}), "
        f"{m['cores']} cores, {m['memory_mb']} MB",
        f"- Linux {m['kernel']}, Python {m['python']}; {libs}",
        f"- strongSwan: {m['strongswan'] or 'not found'} (charon with kernel-libipsec in the lab)",
        f"- Tree: {m['git_rev']}{' with uncommitted changes' if m['git_dirty'] else ', clean'}",
        f"- Load average at start {' '.join(m['loadavg_start'])}, at end {' '.join(m.get('loadavg_end', []))}",
    ]


# -- naming ----------------------------------------------------------------------

def result_stem(out: Path, date: datetime.date, rev: str, quick: bool) -> Path:
    """out/YYYY-MM-DD-<rev>[-quick], with -2, -3, ... when that name is taken."""
    base = f"{date.isoformat()}-{rev}{'-quick' if quick else ''}"
    stem, n = out / base, 1
    while stem.with_suffix(".md").exists() or stem.with_suffix(".json").exists():
        n += 1
        stem = out / f"{base}-{n}"
    return stem


# -- running ---------------------------------------------------------------------

def run_once(bench: Bench, quick: bool, folder: Path, index: int, extra: Sequence[str] = ()) -> Run:
    json_file = folder / f"{bench.name}-{index}.json"
    argv = bench.argv(json_file, quick, extra)
    stdout_file = folder / f"{bench.name}-{index}.stdout"
    started = time.monotonic()
    tail: list[str] = []
    with open(stdout_file, "w") as out:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.PIPE, text=True)
        timer = threading.Timer(bench.timeout, proc.terminate)  # SIGTERM: the benches unwind their namespaces
        timer.start()
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                print(f"[{bench.name}] {line}", end="", file=sys.stderr, flush=True)
                tail = (tail + [line])[-60:]
            proc.wait()
        finally:
            timer.cancel()
    doc = json.loads(json_file.read_text()) if json_file.exists() and json_file.stat().st_size else None
    return Run(argv=argv, returncode=proc.returncode, seconds=round(time.monotonic() - started, 1), doc=doc,
               stdout=stdout_file.read_text(), stderr_tail="".join(tail))


def select(only: str | None) -> list[Bench]:
    if not only:
        return list(REGISTRY)
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = {b.name: b for b in REGISTRY}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown bench {', '.join(unknown)}; known: {', '.join(known)}")
    return [b for b in REGISTRY if b.name in names]


def parse_bench_args(values: Sequence[str]) -> dict[str, list[str]]:
    """--bench-args NAME='ARGS' (repeatable) -> {NAME: [ARGS split as a shell would]}."""
    known = {b.name for b in (CEILING, *REGISTRY)}
    out: dict[str, list[str]] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or name.strip() not in known:
            raise SystemExit(f"--bench-args {value!r}: want NAME='ARGS' with NAME one of {', '.join(sorted(known))}")
        out.setdefault(name.strip(), []).extend(shlex.split(rest))
    return out


def run_bench(bench: Bench, quick: bool, folder: Path, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Runs one entry; its record for the results (status, runs, section)."""
    script = REPO / bench.script
    if not script.exists():
        print(f"{bench.name}: {bench.script} is not in this tree; going on", file=sys.stderr)
        return {"status": "absent", "message": f"{bench.script} is not in this tree", "runs": []}
    if bench.needs_root and os.geteuid() != 0:
        print(f"{bench.name}: needs root (network namespaces); not run", file=sys.stderr)
        return {"status": "skipped", "message": "needs root (network namespaces): run the driver with sudo",
                "runs": []}
    runs = []
    for i in range(bench.quick_runs if quick else bench.runs):
        print(f"== {bench.name} run {i + 1}: {bench.script}", file=sys.stderr, flush=True)
        runs.append(run_once(bench, quick, folder, i + 1, extra))
    failed = [r for r in runs if r.returncode != 0 or r.doc is None]
    good = [r for r in runs if r.returncode == 0 and r.doc is not None]
    try:
        section = bench.summarize(good)
    except (KeyError, TypeError, ValueError) as exc:  # a JSON shape the summarizer does not know
        section = Section(lines=[f"Could not summarize its JSON ({type(exc).__name__}: {exc}); "
                                 "the raw documents are in the .json file."])
    status = "ok" if not failed else ("partial" if good else "failed")
    message = "; ".join(f"run {runs.index(r) + 1} exited {r.returncode}" + ("" if r.doc is not None else
                                                                             ", no JSON") for r in failed)
    return {"status": status, "message": message, "runs": runs, "section": section}


def resolve_ceilings(records: dict[str, dict[str, Any]]) -> None:
    """Rows naming a ceiling get the value any bench of the run measured."""
    ceilings: dict[str, float] = {}
    for rec in records.values():
        if "section" in rec:
            ceilings.update(rec["section"].ceilings)
    for rec in records.values():
        for row in rec["section"].rows if "section" in rec else []:
            if row.ceiling is None and row.ceiling_key in ceilings:
                row.ceiling = ceilings[row.ceiling_key]


# -- rendering -------------------------------------------------------------------

def ratio_cell(row: Row) -> str:
    """ikev2d / strongSwan, and in words for a cost ikev2d has less of."""
    if row.ratio is None:
        return "-"
    if not row.higher_is_better and 0 < row.ratio < 1:
        return f"{row.ratio:.2f}x ({1 / row.ratio:.1f}x less)"
    return f"{row.ratio:.2f}x"


def pct_cell(row: Row) -> str:
    pct = row.pct_of_ceiling
    return f"{pct:.0f}%" if pct is not None else "-"


def rows_table(rows: Sequence[Row]) -> list[str]:
    return table(
        ["what", "ikev2d / strongSwan", "ikev2d % of crypto ceiling", "ikev2d", "strongSwan", "ceiling", "unit",
         "better", "samples"],
        [[r.metric, ratio_cell(r), pct_cell(r), fmt(r.ours), fmt(r.theirs), fmt(r.ceiling), r.unit,
          "higher" if r.higher_is_better else "lower", str(r.samples)] for r in rows])


def render_markdown(result: dict[str, Any], records: dict[str, dict[str, Any]]) -> str:
    m = result["machine"]
    lines = [f"# Benchmarks {result['date']} {m['git_rev']}{' (quick)' if result['quick'] else ''}", "",
             f"One run of `{result['command']}`; every figure is from this run. "
             + SHARED_NOTE.format(cores=m["cores"]), ""]
    headline = [r for rec in records.values() if "section" in rec for r in rec["section"].rows if r.headline]
    lines += ["## Summary", ""]
    lines += rows_table(headline) if headline else ["No figures in this run."]
    lines += ["", "ikev2d / strongSwan: ikev2d's figure over strongSwan's, the median of the ratios of pairs measured "
              "back to back (throughput: higher is better; CPU and memory: lower is better). "
              "% of crypto ceiling: throughput over the crypto-only ceiling's, or the ceiling's CPU per connect over "
              "ikev2d's (100% = nothing but the crypto).", ""]
    not_ok = [(name, rec) for name, rec in records.items() if rec["status"] != "ok"]
    if not_ok:
        lines += [f"- {name}: {rec['status']}: {rec['message']}" for name, rec in not_ok] + [""]
    lines += ["## Machine", ""] + machine_lines(m) + [""]
    for name, rec in records.items():
        bench = next(b for b in (CEILING, *REGISTRY) if b.name == name)
        lines += [f"## {name}: {bench.what}", ""]
        if not rec["runs"]:
            lines += [f"Not run: {rec['message']}.", ""]
            continue
        for i, run in enumerate(rec["runs"], 1):
            cmd = " ".join([Path(run.argv[0]).name, *(str(Path(a).relative_to(REPO)) if a.startswith(str(REPO))
                                                      else a for a in run.argv[1:-2])])
            lines.append(f"Run {i}: `{cmd}`: exit {run.returncode}, {run.seconds:.0f} s")
        lines.append("")
        for i, run in enumerate(rec["runs"], 1):
            if run.returncode != 0 or run.doc is None:  # what it said last, so the file tells why
                tail = run.stderr_tail.rstrip().splitlines()[-15:]
                lines += [f"Run {i} failed; the end of its standard error:", "", "```", *tail, "```", ""]
        section = rec.get("section")
        if section is not None and section.rows:
            lines += rows_table(section.rows) + [""]
            notes = [f"- {r.metric}: {r.note}" for r in section.rows if r.note]
            lines += notes + [""] if notes else []
        if section is not None and section.lines:
            lines += section.lines + [""]
    return "\n".join(lines).rstrip() + "\n"


def result_json(result: dict[str, Any], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = dict(result)
    out["benches"] = {}
    for name, rec in records.items():
        section = rec.get("section")
        out["benches"][name] = {
            "status": rec["status"], "message": rec["message"],
            "ceilings": section.ceilings if section else {},
            "rows": [dict(asdict(r), pct_of_ceiling=r.pct_of_ceiling) for r in section.rows] if section else [],
            "runs": [asdict(r) for r in rec["runs"]]}
    out["summary"] = [row for b in out["benches"].values() for row in b["rows"] if row["headline"]]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated benches, of: {', '.join(b.name for b in REGISTRY)}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and connects: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the result pair goes (bench/results/)")
    parser.add_argument("--list", action="store_true", help="list the registry and exit")
    parser.add_argument("--bench-args", action="append", default=[], metavar="NAME='ARGS'",
                        help="more arguments for one entry, after its own (e.g. esp='--repeats 2'); repeatable")
    args = parser.parse_args(argv)
    extra = parse_bench_args(args.bench_args)
    if args.list:
        benches = [CEILING, *REGISTRY]
        width = max(len(b.name) for b in benches)
        for b in benches:
            present = "" if (REPO / b.script).exists() else "  (not in this tree)"
            print(f"{b.name:{width}} {b.script:28} {b.what}{present}")
        return 0
    benches = select(args.only)
    today = datetime.date.today()
    machine = machine_info()
    command = ("python -m bench" + (f" --only {args.only}" if args.only else "") + (" --quick" if args.quick else "")
               + "".join(f" --bench-args {shlex.quote(f'{n}={shlex.join(a)}')}" for n, a in extra.items()))
    result: dict[str, Any] = {"date": today.isoformat(), "command": command, "quick": args.quick,
                              "machine": machine, "note": SHARED_NOTE.format(cores=machine["cores"])}
    records: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-driver-") as tmp:
        for bench in (CEILING, *benches):
            records[bench.name] = run_bench(bench, args.quick, Path(tmp), extra.get(bench.name, ()))
    machine["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    resolve_ceilings(records)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = result_stem(args.out, today, machine["git_rev"], args.quick)
    text = render_markdown(result, records)
    stem.with_suffix(".md").write_text(text)
    stem.with_suffix(".json").write_text(json.dumps(result_json(result, records), indent=1) + "\n")
    print(text)
    print(f"written to {stem.with_suffix('.md')} and .json", file=sys.stderr)
    return 0 if all(rec["status"] in ("ok", "absent") for rec in records.values()) else 1

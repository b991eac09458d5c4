"""A/B of two versions of the userspace data plane under bench_esp.py's
gateway harness (root, not a test):

    sudo .venv/bin/python bench/bench_ab.py REF [--sizes 64,1400] [--suite CBC+SHA512] [--repeats 5]

"old" is this tree with esp/userspace/ taken from git commit REF; "new" is
this tree as it is. Both run as ikev2d gateways side by side (each on CPU 0
during its runs, alternating run by run), with the same load, so the
difference is the data plane's code alone. Prints median (min-max) per
size and direction.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import esp_gateway  # noqa: E402
from esp_gateway import Figure, Gateway  # noqa: E402

from lab.netns import run_prefix  # noqa: E402
from lab.pki import make_lab_pki  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def tree_with_old_dataplane(ref: str, into: Path) -> None:
    """This tree's ikev2d, esp, lab and config, with esp/userspace from `ref`."""
    for paths, commit in ((["ikev2d", "esp", "lab", "config"], "HEAD"), (["esp/userspace"], ref)):
        if commit == ref:
            shutil.rmtree(into / "esp" / "userspace")
        tar = subprocess.run(["git", "archive", commit, *paths], cwd=REPO, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as t:
            t.extractall(into, filter="data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ref", help="git commit whose esp/userspace is the 'old' side")
    parser.add_argument("--sizes", default="64,1400")
    parser.add_argument("--suite", default="CBC+SHA512", choices=sorted(esp_gateway.SUITES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rate", type=float, default=350_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    os.sched_setaffinity(0, {esp_gateway.LOAD_CPU})
    folder = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    old_tree = folder / "old-tree"
    old_tree.mkdir()
    tree_with_old_dataplane(args.ref, old_tree)
    pki = make_lab_pki(folder / "pki")
    figs: dict[tuple[int, str, str], list[Figure]] = {}
    try:
        with ExitStack() as stack:
            os.environ["PYTHONPATH"] = str(old_tree)  # the old daemon imports ikev2d and esp from there
            try:
                old = Gateway("ikev2d", args.suite, pki, folder / "old", stack)
            finally:
                del os.environ["PYTHONPATH"]
            def other_prefix(tag: str = "") -> str:  # the second gateway's namespaces get other names
                return run_prefix(tag + "n")

            esp_gateway.run_prefix = other_prefix
            new = Gateway("ikev2d", args.suite, pki, folder / "new", stack)
            sides = [("old", old), ("new", new)]
            for rep in range(args.repeats):
                for size in sizes:
                    for d in ("encrypt", "decrypt"):
                        for name, gw in sides if rep % 2 == 0 else sides[::-1]:
                            f = gw.encrypt(size, args.rate) if d == "encrypt" else gw.decrypt(size, args.rate)
                            figs.setdefault((size, d, name), []).append(f)
                            print(f"  run {rep + 1} {name} {d} {size} B: {f.mbps:.0f} Mbit/s, core {100 * f.cpu:.0f}%",
                                  file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # per core: Mbit/s over the share of its core each side's threads got
    # (other jobs on the machine take different shares from run to run)
    print(f"| size B | dir | old ({args.ref[:10]}) Mbit/s | new Mbit/s | new / old | old per core | new per core "
          "| new / old per core |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        for d in ("encrypt", "decrypt"):
            o, n = ([f.mbps for f in figs[(size, d, k)]] for k in ("old", "new"))
            op, np_ = ([f.mbps / f.cpu for f in figs[(size, d, k)] if f.cpu] for k in ("old", "new"))
            print(f"| {size} | {d} | {statistics.median(o):.0f} ({min(o):.0f}-{max(o):.0f}) | "
                  f"{statistics.median(n):.0f} ({min(n):.0f}-{max(n):.0f}) | "
                  f"{statistics.median(n) / statistics.median(o):.2f} | {statistics.median(op):.0f} | "
                  f"{statistics.median(np_):.0f} | {statistics.median(np_) / statistics.median(op):.2f} |")


if __name__ == "__main__":
    main()

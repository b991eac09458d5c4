"""cProfile of the ikev2d daemon's main process over N connects + deletes
by `ikev2d load` (root, not a test), the bench_handshake set-up:

    sudo .venv/bin/python bench/profile_daemon.py [--connects 300] [--tree DIR] [--out FILE] [--sort tottime]

The profiler is switched on by a signal after the warm-up and off after
the load (a sitecustomize.py in a temporary folder, on the daemon's
PYTHONPATH), and times CPU (time.process_time), not the wall clock: the
machine is shared. It prints the calls per connect and the top functions;
the .prof file is for pstats / snakeviz. Profiled times are inflated by the
profiler (many-call code the most): compare call counts and proportions,
not milliseconds.
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_handshake as bh  # noqa: E402
from lab.ikev2d import Ikev2d  # noqa: E402
from lab.netns import Topology, run_prefix  # noqa: E402
from lab.pki import make_lab_pki  # noqa: E402

PROFILE_ON, PROFILE_OFF = signal.SIGRTMIN + 3, signal.SIGRTMIN + 4

SITECUSTOMIZE = f'''
import os
_out = os.environ.get("IKEV2D_PROFILE")
if _out:
    import cProfile, signal, time
    _pid = os.getpid()  # not the forked crypto workers
    _prof = cProfile.Profile(time.process_time)
    def _on(*_):
        if os.getpid() == _pid:
            _prof.enable()
    def _off(*_):
        if os.getpid() == _pid:
            _prof.disable()
            _prof.dump_stats(_out)
    signal.signal({int(PROFILE_ON)}, _on)
    signal.signal({int(PROFILE_OFF)}, _off)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connects", type=int, default=300)
    parser.add_argument("--tree", type=Path, default=bh.REPO, help="the ikev2d source tree to profile")
    parser.add_argument("--out", type=Path, default=Path("ikev2d-daemon.prof"))
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    tree, out = args.tree.resolve(), args.out.resolve()
    out.unlink(missing_ok=True)
    users = {f"load{n}": bh.PASSWORD for n in range(1, max(args.connects, bh.WARMUP) + 1)}
    with tempfile.TemporaryDirectory() as tmp, Topology(run_prefix("pd"), 1) as topology:
        first, last = bh.SOURCES.split("-")
        base = first.rsplit(".", 1)[0]
        for n in range(int(first.rsplit(".", 1)[1]), int(last.rsplit(".", 1)[1]) + 1):
            topology.clients[0].add_address("eth0", f"{base}.{n}/24")
        hook = Path(tmp) / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
        server = bh.Ikev2dServer(topology, make_lab_pki(Path(tmp) / "pki"), Path(tmp) / "ikev2d", users, None, tree)
        launcher = ["env", f"PYTHONPATH={hook}:{tree}", f"IKEV2D_PROFILE={out}"]
        original = Ikev2d.__init__

        def with_launcher(self: Ikev2d, *a, **k) -> None:  # type: ignore[no-untyped-def]
            k["launcher"] = launcher
            original(self, *a, **k)

        Ikev2d.__init__ = with_launcher  # type: ignore[method-assign]
        root = server.start(bh.CORES[2])  # the launcher above replaces its taskset: every CPU
        try:
            bh.run_load(topology, bh.WARMUP, bh.WARMUP, None)
            time.sleep(0.5)
            os.kill(root, PROFILE_ON)
            bh.run_load(topology, args.connects, 20, None)
            os.kill(root, PROFILE_OFF)
            for _ in range(50):
                if out.exists():
                    break
                time.sleep(0.1)
        finally:
            server.stop()
    stats = pstats.Stats(str(out))
    print(f"{stats.total_calls / args.connects:.0f} calls (Python functions and builtins) per connect + delete "  # type: ignore[attr-defined]
          f"({stats.total_calls} over {args.connects}); profile in {out}")  # type: ignore[attr-defined]
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()

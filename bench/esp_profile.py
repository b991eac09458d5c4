"""Where the userspace gateway's core goes, per direction (root, not a test):

    sudo .venv/bin/python bench/esp_profile.py [--size 1400] [--suite CBC+SHA512] [--rate 350000]

Runs ikev2d's gateway in bench_esp.py's harness (bench/esp_gateway.py), and
during each measured window records its threads with `perf record` (kernel
and user samples, 2 kHz); prints the throughput, then the shares of the
samples by where they fell: OpenSSL (libcrypto), the Python interpreter,
the kernel (split by the system call or softirq they ran under), other.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import esp_gateway  # noqa: E402
from esp_gateway import Gateway  # noqa: E402

from lab.pki import make_lab_pki  # noqa: E402

# kernel entry points a sample's call chain passes through, most specific first
_KERNEL_PATHS = (
    ("sendmsg/sendto (UDP send, incl. the far side's receive on this core)", ("__sys_sendmsg", "__sys_sendto",
                                                                               "udp_sendmsg")),
    ("TUN write (inner packet delivered)", ("tun_chr_write_iter", "tun_get_user")),
    ("TUN read", ("tun_chr_read_iter", "tun_do_read")),
    ("recvfrom (4500 socket)", ("__sys_recvfrom", "udp_recvmsg")),
    ("epoll/select", ("do_epoll_wait", "ep_poll")),
    ("softirq (net_rx)", ("net_rx_action", "__do_softirq", "handle_softirqs")),
)


def classify(stack: list[tuple[str, str]]) -> str:
    """`stack`: (symbol, dso) frames, innermost first."""
    sym, dso = stack[0]
    if "libcrypto" in dso or "libssl" in dso or "_rust" in dso:
        return "OpenSSL / cryptography"
    if "kernel" in dso or dso.startswith("[k"):
        names = {s for s, _ in stack}
        for label, entries in _KERNEL_PATHS:
            if names & set(entries):
                return "kernel: " + label
        return "kernel: other"
    if "python" in dso or "libpython" in dso:
        return "Python interpreter"
    return f"other ({os.path.basename(dso)})"


def parse(script_out: str) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    stack: list[tuple[str, str]] = []
    for line in script_out.splitlines() + [""]:
        if not line.strip():
            if stack:
                counts[classify(stack)] += 1
            stack = []
            continue
        if line.startswith((" ", "\t")):
            parts = line.split()
            if len(parts) >= 3:
                sym = parts[1].split("+")[0]
                dso = parts[-1].strip("()")
                stack.append((sym, dso))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1400)
    parser.add_argument("--suite", default="CBC+SHA512", choices=sorted(esp_gateway.SUITES))
    parser.add_argument("--rate", type=float, default=350_000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {esp_gateway.LOAD_CPU})
    folder = Path(tempfile.mkdtemp(prefix="esp-profile-"))
    pki = make_lab_pki(folder / "pki")
    data = folder / "perf.data"

    done = threading.Event()

    def record(pid: int, seconds: float) -> None:
        subprocess.run(["perf", "record", "-q", "-F", "2000", "-g", "-p", str(pid), "-o", str(data), "--",
                        "sleep", str(seconds)], capture_output=True)
        done.set()

    with ExitStack() as stack:
        gw = Gateway("ikev2d", args.suite, pki, folder / "gw", stack)
        gw.during_window = record
        for d in ("encrypt", "decrypt"):
            done.clear()
            fig = gw.encrypt(args.size, args.rate) if d == "encrypt" else gw.decrypt(args.size, args.rate)
            done.wait(30)  # perf may still be writing when the run's figures are in
            out = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym,dso"], capture_output=True,
                                 text=True).stdout
            counts = parse(out)
            total = sum(counts.values()) or 1
            print(f"\n{d} {args.size} B {args.suite}: {fig.mbps:.0f} Mbit/s, {fig.pps:.0f} pkt/s, gateway on "
                  f"{100 * fig.cpu:.0f}% of its core; {total} samples")
            for label, n in counts.most_common():
                print(f"  {100 * n / total:5.1f}%  {label}")
    subprocess.run(["rm", "-rf", str(folder)])


if __name__ == "__main__":
    main()

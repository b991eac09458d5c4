"""Does cryptography release the GIL while sealing ESP? (issue 11, two cores)

One thread, then two threads, each sealing 1400-byte packets as the
userspace data plane does (AES-256-CBC `update_into` + a copied HMAC-SHA-512).
If two threads give about the packets/s of one at twice the CPU, the GIL is
held and a second core needs a second process.

    .venv/bin/python bench/esp_gil.py [--packets N]
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SIZE = 1408  # a 1400 B inner packet padded to the AES block


def seal(packets: int) -> None:
    encryptor = Cipher(algorithms.AES(os.urandom(32)), modes.CBC(os.urandom(16))).encryptor()
    keyed = hmac.HMAC(os.urandom(64), hashes.SHA512())
    data, out = os.urandom(SIZE), bytearray(SIZE + 16)
    for _ in range(packets):
        encryptor.update_into(data, out)
        mac = keyed.copy()
        mac.update(out)
        mac.finalize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=40000, help="per thread")
    args = parser.parse_args()
    for threads in (1, 2):
        workers = [threading.Thread(target=seal, args=(args.packets,)) for _ in range(threads)]
        wall, cpu = time.perf_counter(), time.process_time()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{threads} thread(s): {threads * args.packets / wall:,.0f} pkt/s, CPU {cpu:.2f} s in {wall:.2f} s")


if __name__ == "__main__":
    main()

"""Where each new inbound Child SA SPI goes when the data plane has lanes.

A data plane spread over N worker processes (`--dataplane-workers N`) holds
the pair with inbound SPI ``s`` in worker ``s % N``, where the kernel steers
its ESP (esp.userspace.steering). Random SPIs spread many SAs evenly but few
badly: two clients share a worker half the time, and then one core carries
both while the other idles. So the responder draws each new SPI at random
and moves it into the lane that holds the fewest SAs now (keeping the
draw's upper bits: still random and unpredictable; uniqueness is checked by
the caller as before). A lane whose worker died and is not back yet takes
no new SPI: a Child SA placed there could not be installed.
"""

from __future__ import annotations

from esp.userspace.steering import spi_for_worker, worker_of_spi


class SpiLanes:
    """Counts of the booked inbound SPIs per lane; places new SPIs in the emptiest lane."""

    def __init__(self, lanes: int = 1) -> None:
        if lanes < 1:
            raise ValueError(f"{lanes} lanes: at least 1")
        self.lanes = lanes
        self.counts = [0] * lanes
        self.down: set[int] = set()  # lanes whose worker is being replaced

    def place(self, candidate: int, replacing: int = 0) -> int:
        """``candidate`` (a random 32-bit draw) moved into the least-loaded lane;
        a rekey's new SPI is placed as if the SPI it ``replaces`` were gone
        (else a balanced plane would see its own lane one too full)."""
        if self.lanes == 1:
            return candidate
        counts = list(self.counts)
        if replacing:
            counts[worker_of_spi(replacing, self.lanes)] -= 1
        # every lane down: any will do, and its install says why it failed
        live = [lane for lane in range(self.lanes) if lane not in self.down] or list(range(self.lanes))
        fewest = min(counts[lane] for lane in live)
        tied = [lane for lane in live if counts[lane] == fewest]
        # a tie is broken by the draw's upper bits, which the lane's low bits leave alone
        lane = tied[(candidate >> 16) % len(tied)]
        return spi_for_worker(candidate, lane, self.lanes)

    def lane_changed(self, lane: int, up: bool) -> None:
        """The data plane's word that `lane`'s worker died (False) or is back (True)."""
        if up:
            self.down.discard(lane)
        else:
            self.down.add(lane)

    def booked(self, spi: int) -> None:
        if self.lanes > 1:
            self.counts[worker_of_spi(spi, self.lanes)] += 1

    def released(self, spi: int) -> None:
        if self.lanes > 1:
            self.counts[worker_of_spi(spi, self.lanes)] -= 1

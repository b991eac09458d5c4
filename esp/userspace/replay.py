"""The receiver's anti-replay window (RFC 4303 §3.4.3, Appendix A for ESN).

`check` runs before the ICV is verified (cheap rejection), `accept` only
after it verified, so forged packets can never move the window.
Sequence numbers are 64-bit throughout; without ESN the high half is 0.
"""

from __future__ import annotations

REPLAY = -1  # already received
TOO_OLD = -2  # left of the window

_LOW = 1 << 32


class ReplayWindow:
    """`size` packets wide; 0 disables the check (RFC 4303 §3.4.3 lets the
    receiver do so), but the highest number is still tracked."""

    __slots__ = ("size", "esn", "top", "_bits", "_mask")

    def __init__(self, size: int = 64, esn: bool = False) -> None:
        if size < 0:
            raise ValueError("replay window size must be >= 0")
        self.size = size
        self.esn = esn
        self.top = 0  # highest authenticated sequence number
        # Bit i stands for number top - i. Bit 0 set from the start: number 0
        # is never sent (RFC 4303 §3.3.3), so it counts as seen.
        self._bits = 1
        self._mask = (1 << max(size, 1)) - 1

    def infer(self, seq_lo: int) -> int:
        """The full 64-bit number for a received low half (Appendix A2.2);
        negative when it cannot be placed."""
        if not self.esn:
            return seq_lo
        top = self.top
        tl, th = top & 0xFFFFFFFF, top >> 32
        w = max(self.size, 1)
        if tl >= w - 1:
            hi = th if seq_lo >= tl - w + 1 else th + 1
        else:
            hi = th - 1 if seq_lo >= (tl - w + 1) % _LOW else th
        if hi < 0:
            return TOO_OLD
        return (hi << 32) | seq_lo

    def check(self, seq: int) -> int:
        """`seq` if it may be new, else REPLAY or TOO_OLD."""
        top = self.top
        if seq > top:
            return seq
        if not self.size:
            return seq if seq else REPLAY
        diff = top - seq
        if diff >= self.size:
            return TOO_OLD
        if (self._bits >> diff) & 1:
            return REPLAY
        return seq

    def accept(self, seq: int) -> None:
        """Record an authenticated number (after `check` allowed it)."""
        top = self.top
        if seq > top:
            shift = seq - top
            self._bits = ((self._bits << shift) | 1) & self._mask if shift < self.size else 1
            self.top = seq
        else:
            self._bits |= 1 << (top - seq)

"""The userspace ESP data plane: ESP in UDP 4500 <-> a TUN device."""

from .dataplane import UserspaceDataPlane

__all__ = ["UserspaceDataPlane"]

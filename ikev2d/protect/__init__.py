"""Protecting IKE messages: SK encryption and integrity (RFC 7296 §3.14,
RFC 5282) and SKF fragmentation and reassembly (RFC 7383).

Sits above both ikev2d.wire (the encoding) and ikev2d.crypto (the
transforms), so neither has to know the other.
"""

from ikev2d.protect.fragments import FragmentReassembler, protect_fragments
from ikev2d.protect.sk import SkKeys, protect_message, unprotect_message

__all__ = [
    "FragmentReassembler",
    "SkKeys",
    "protect_fragments",
    "protect_message",
    "unprotect_message",
]

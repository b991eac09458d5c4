"""Bytes <-> IKEv2 messages (RFC 7296 §3, RFC 7383 §2.5).

errors.py   what the decoder raises
header.py   the fixed IKE header
base.py     the generic payload header and the payload protocol
payloads.py one dataclass per payload (SA in sa.py, TS in ts.py, CP in cp.py)
message.py  the payload chain and whole plain messages
"""

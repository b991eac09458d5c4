"""EAP authenticator (RFC 3748) for IKEv2 EAP authentication (RFC 7296 §2.16).

Sans I/O: feed EAP payload bytes to EapServer.process(), send what it returns.
Methods: EAP-MD5-Challenge, EAP-GTC, EAP-MSCHAPv2 (the only one with an MSK).
"""

from ikev2d.eap.packet import EapPacket, EapSyntaxError
from ikev2d.eap.server import EapOutcome, EapServer

__all__ = ["EapOutcome", "EapPacket", "EapServer", "EapSyntaxError"]

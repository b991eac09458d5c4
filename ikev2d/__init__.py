"""ikev2d: an IKEv2 remote-access VPN headend that looks like a Cisco FTD."""

__version__ = "0.1.0"

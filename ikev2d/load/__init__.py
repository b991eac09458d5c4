"""`ikev2d load`: an IKEv2 initiator over the network that emulates many
standards-EAP remote-access clients against any headend.

- eap_client: the EAP peer (MSCHAPv2, MD5-Challenge, GTC), shared with
  lab.initiator;
- session: one client's IKE SA as a sans-I/O state machine (datagrams in,
  datagrams out), SAs told apart by our SPI;
- stats: latency percentiles, connects/s, errors by notify;
- runner: asyncio UDP sockets (one per source address), rate/concurrency.
"""

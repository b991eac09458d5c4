"""A stateful fuzzer for the sans-I/O responder (issue 13, "hostile after
authentication").

Three levels of input, all driven through real in-process exchanges
(lab.initiator against ikev2d.core.Responder):

1. raw datagrams: byte mutations of the recorded requests, random bytes;
2. SK/SKF framing: the real plaintext sealed with broken framing (lengths,
   next payload, fragment numbers and totals, IV, ICV), re-MACed so most
   of it passes the integrity check;
3. plaintexts: payload-aware mutations sealed with the SA's real keys.

Oracles (`oracles.py`) watch every call into the core. Everything is
deterministic by seed (`world.py`), findings are shrunk (`shrink.py`) and
written as JSON reproducers that `python -m lab.fuzz --replay FILE` replays.
"""

"""The local control socket of a running ikev2d: `show` snapshots and
session logoff, one JSON request and one JSON answer per connection."""

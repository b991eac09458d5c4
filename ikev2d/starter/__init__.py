"""Templates `ikev2d init` fills in: the starter configuration and the systemd unit."""

"""The debug trace (`ikev2d debug crypto ikev2 protocol|platform LEVEL`):
every IKE message both ways, decrypted and decoded, the SA state machine,
refusals with their reasons, and what is programmed into the data plane."""

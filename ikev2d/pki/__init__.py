"""Client certificate policy beyond the chain itself: certificate maps
(which connection profile a certificate lands in) and CRL revocation checks."""

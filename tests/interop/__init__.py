"""Interop tests: real strongSwan 5.9.8 clients in network namespaces."""

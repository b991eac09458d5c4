"""Renderers of the `show` commands: pure functions from a `Snapshot` (or,
for running-config, a text) to the FTD's text, and to a JSON-ready dict."""

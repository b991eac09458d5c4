"""Fixtures for the responder's unit tests (see responder_harness.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ikev2d.core import Responder
from ikev2d.settings import build_settings

from responder_harness import Harness, make_config


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # one self-signed identity for the module: key generation is slow
    return tmp_path_factory.mktemp("pki")


@pytest.fixture
def now() -> dt.datetime:
    """The wall clock, read as each test starts: a module constant would lag
    by the whole run when the unit tests run after the interop tests, and
    certificates or CRLs made during a test would look issued in the future."""
    return dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def harness(tmp_path: Path, pki_dir: Path) -> Harness:
    """A responder on config/ikev2d.yaml, its identity in `pki_dir`."""
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    return Harness(Responder(build_settings(config)))

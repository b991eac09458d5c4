"""Fixtures for the responder's unit tests (see responder_harness.py)."""

from __future__ import annotations

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
def harness(tmp_path: Path, pki_dir: Path) -> Harness:
    """A responder on config/ikev2d.yaml, its identity in `pki_dir`."""
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    return Harness(Responder(build_settings(config)))

"""The native clients against ikev2d on the whitepaper's NSA configuration
(config/ikev2d.yaml): each is refused on the wire exactly when
`check-config --clients` refuses it (Windows, iOS: NO_PROPOSAL_CHOSEN in
IKE_SA_INIT), and admitted with the suite it predicts otherwise (the
strongSwan app). tests/interop/test_native_clients.py has the lab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ikev2d.compliance.clients import CLIENTS, NativeClient, judge_client
from ikev2d.conf import load_config
from lab import swanlog
from lab.ikev2d import REPO, Ikev2d
from lab.pki import LabPki
from lab.strongswan import Charon

from .checks import assert_healthy, assert_in_log
from .test_native_clients import Lab, connect_as_predicted, load_as, start_lab, stop_lab

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

NSA = REPO / "config" / "ikev2d.yaml"


@pytest.fixture(scope="module")
def nsa_lab(lab_session: None, lab_pki: LabPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    started: list[Ikev2d | Charon] = []
    the_lab = start_lab(NSA, lab_pki, tmp_path_factory.mktemp("native-nsa"), "nsa", started)
    try:
        yield the_lab
    finally:
        stop_lab(started, the_lab.topology)


def test_the_nsa_configuration_refuses_some_and_admits_some() -> None:
    """The cases below are both kinds, so neither branch is vacuous."""
    verdicts = [judge_client(load_config(NSA), c) for c in CLIENTS]
    assert any(v.admitted for v in verdicts) and not all(v.admitted for v in verdicts)


@pytest.mark.parametrize("native", CLIENTS, ids=[c.key for c in CLIENTS])
def test_native_client_on_the_nsa_configuration_as_check_config_says(nsa_lab: Lab, native: NativeClient) -> None:
    verdict = judge_client(load_config(NSA), native)
    if verdict.admitted:
        connect_as_predicted(nsa_lab, native, verdict)
        return
    assert verdict.reasons[0].startswith("no IKEv2 policy"), verdict.reasons  # the NSA file's refusals
    load_as(nsa_lab, native)
    before = len(nsa_lab.client.log())  # one charon for the module: read only this attempt's lines
    result = nsa_lab.client.initiate(timeout=10)
    assert not result.ok
    assert_in_log(nsa_lab.client.log()[before:], [swanlog.NO_PROP_RESPONSE, swanlog.NO_PROPOSAL_CHOSEN])
    assert nsa_lab.client.list_sas() == []
    assert_healthy(nsa_lab.server)

"""PFS in a Child SA rekey (RFC 7296 §1.3.1, §2.17): a KE in
CREATE_CHILD_SA, the new keys from g^ir as well as the nonces; the
crypto map's `set pfs` makes it required; a KE in the wrong group gets
INVALID_KE_PAYLOAD naming ours. (A client's PFS rekey used to get
NO_PROPOSAL_CHOSEN: its tunnel was lost at the next rekey.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from ikev2d.core import Responder
from ikev2d.crypto.keymat import derive_child_keys
from ikev2d.effects import InstallChildSa
from ikev2d.iana import DhId, NotifyType
from ikev2d.running_config import render_running_config
from ikev2d.settings import build_settings
from lab.initiator import IkeFailure

from responder_harness import Harness, make_config

PROPOSALS_LINE = "ipsec_proposals: [NSA]"


def _installed(harness: Harness) -> list:
    return [e.spec for e in harness.effects if isinstance(e, InstallChildSa)]


def test_a_pfs_rekey_is_accepted_and_its_keys_come_from_the_new_dh_secret(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    _, responder_spi = client.rekey_child(pfs_groups=(DhId.MODP_3072,))
    assert client.child_shared_secret is not None and client.child_nonces is not None
    [sa] = harness.responder.sas.values()
    spec = _installed(harness)[-1]
    assert spec.spi_in == responder_spi
    nonce_i, nonce_r = client.child_nonces
    with_pfs = derive_child_keys(sa.prf, sa.keys.sk_d, nonce_i, nonce_r, 32, 64, client.child_shared_secret)
    without = derive_child_keys(sa.prf, sa.keys.sk_d, nonce_i, nonce_r, 32, 64)
    assert (spec.encr_key_in, spec.integ_key_in) == (with_pfs.encr_i, with_pfs.integ_i)
    assert spec.encr_key_in != without.encr_i


def test_a_ke_in_the_wrong_group_is_told_ours(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    with pytest.raises(IkeFailure) as failure:
        client.rekey_child(pfs_groups=(DhId.MODP_2048, DhId.MODP_3072), ke_group=DhId.MODP_2048)
    assert failure.value.notify == NotifyType.INVALID_KE_PAYLOAD
    client.rekey_child(pfs_groups=(DhId.MODP_2048, DhId.MODP_3072), ke_group=DhId.MODP_3072)  # retried: fine


def test_without_set_pfs_a_rekey_without_pfs_still_works(harness: Harness) -> None:
    client = harness.client()
    client.connect()
    client.rekey_child()
    assert client.child_shared_secret is None


def test_set_pfs_requires_it(tmp_path: Path, pki_dir: Path) -> None:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}",
                                      PROPOSALS_LINE: f"{PROPOSALS_LINE}\n  pfs_group: 15"})
    assert "crypto dynamic-map CSM_outside_map_dynamic 1 set pfs group15" in render_running_config(config)
    h = Harness(Responder(build_settings(config)))
    client = h.client()
    client.connect()  # the first Child SA comes without PFS (RFC 7296 §1.2)
    with pytest.raises(IkeFailure) as failure:
        client.rekey_child()
    assert failure.value.notify == NotifyType.NO_PROPOSAL_CHOSEN
    client.rekey_child(pfs_groups=(DhId.MODP_3072,))
    assert client.child_shared_secret is not None


def test_an_unknown_pfs_group_names_its_line(tmp_path: Path) -> None:
    from ikev2d.conf.errors import ConfigError
    with pytest.raises(ConfigError, match="unknown DH group 3"):
        make_config(tmp_path, **{PROPOSALS_LINE: f"{PROPOSALS_LINE}\n  pfs_group: 3"})

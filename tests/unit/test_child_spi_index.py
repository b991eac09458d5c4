"""The responder indexes its Child SAs' inbound SPIs (a new SPI is checked,
an expiry or a data plane failure finds its IKE SA, without a scan of every
session): the index follows a connect, a Child rekey, an IKE rekey and the
deletes, and keeps nothing of a session that is gone."""

from __future__ import annotations

from ikev2d.sa_types import State

from responder_harness import Harness


def _established(h: Harness):
    return [sa for sa in h.responder.sas.values() if sa.state is State.ESTABLISHED]


def _indexed(h: Harness) -> dict[int, object]:
    return dict(h.responder._child_owner)


def test_the_index_follows_children_through_rekeys_and_deletes(harness: Harness) -> None:
    h = harness
    first, second = h.client(2), h.client(3)
    first.connect()
    second.connect()
    sas = _established(h)
    assert _indexed(h) == {c.spec.spi_in: sa for sa in sas for c in sa.children}
    assert len(_indexed(h)) == 2
    spi = next(iter(_indexed(h)))
    assert h.responder._child_spi_in_use(spi) and not h.responder._child_spi_in_use(spi ^ 1)

    first.rekey_child()
    first.rekey_ike()
    now = _established(h)
    assert _indexed(h) == {c.spec.spi_in: sa for sa in now for c in sa.children}
    assert len(_indexed(h)) == 2  # the old Child SA went with its rekey
    for spi_in, owner in _indexed(h).items():
        assert h.responder._sa_of_child(spi_in) is owner

    first.delete()
    second.delete()
    assert _established(h) == []
    assert h.responder._child_owner == {} and h.responder._child_spis_of == {}

"""Each new inbound Child SA SPI lands in the data-plane lane (worker, by
spi % N) that holds the fewest SAs, and stays a random draw otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from esp.dataplane import LaneCallback, RecordingDataPlane
from esp.userspace.steering import worker_of_spi
from ikev2d.conf import load_config
from ikev2d.core import Responder
from ikev2d.daemon import Daemon
from ikev2d.sa_types import State
from ikev2d.settings import build_settings
from ikev2d.spi_lanes import SpiLanes

from responder_harness import Harness, make_config


def test_one_lane_leaves_the_draw_alone() -> None:
    lanes = SpiLanes(1)
    assert [lanes.place(x) for x in (0, 7, 0xFFFFFFFF)] == [0, 7, 0xFFFFFFFF]


def test_a_new_spi_goes_to_the_emptiest_lane_and_keeps_the_draws_upper_bits() -> None:
    lanes = SpiLanes(3)
    for spi in (0x1000, 0x1003, 0x1001):  # lanes 1, 1, 2 (0x1000 % 3 == 1)
        lanes.booked(spi)
    assert lanes.counts == [0, 2, 1]
    for _ in range(200):
        draw = int.from_bytes(os.urandom(4), "big")
        spi = lanes.place(draw)
        assert worker_of_spi(spi, 3) == 0
        assert abs(spi - draw) < 3 + 256 and spi >= 256 and spi <= 0xFFFFFFFF
    lanes.released(0x1000)
    lanes.released(0x1003)
    assert lanes.counts == [0, 0, 1]
    assert {worker_of_spi(lanes.place(int.from_bytes(os.urandom(4), "big")), 3) for _ in range(200)} == {0, 1}


def test_a_rekeys_spi_is_placed_as_if_the_one_it_replaces_were_gone() -> None:
    lanes = SpiLanes(2)
    for spi in (0x1000, 0x1002, 0x1001, 0x1003):  # two in each lane
        lanes.booked(spi)
    for _ in range(100):
        draw = int.from_bytes(os.urandom(4), "big")
        assert worker_of_spi(lanes.place(draw, replacing=0x1001), 2) == 1
        assert worker_of_spi(lanes.place(draw, replacing=0x1000), 2) == 0
    assert lanes.counts == [2, 2]  # placing books nothing


def test_ties_are_broken_by_the_draw_so_the_lane_is_not_predictable() -> None:
    lanes = SpiLanes(2)
    assert {worker_of_spi(lanes.place(int.from_bytes(os.urandom(4), "big")), 2) for _ in range(200)} == {0, 1}


def test_a_lane_that_is_down_takes_no_new_spi_until_it_is_back() -> None:
    lanes = SpiLanes(3)
    for spi in (0x1000, 0x1003, 0x1001):  # lane 0 empty, lane 1 two, lane 2 one (0x1000 % 3 == 1)
        lanes.booked(spi)
    assert lanes.counts == [0, 2, 1]
    lanes.lane_changed(0, up=False)  # its worker died; the replacement is starting
    assert {worker_of_spi(lanes.place(int.from_bytes(os.urandom(4), "big")), 3) for _ in range(100)} == {2}
    # a rekey is placed among the live lanes as if the pair it replaces were gone: lanes 1 and 2 tie
    assert {worker_of_spi(lanes.place(int.from_bytes(os.urandom(4), "big"), replacing=0x1003), 3)
            for _ in range(100)} == {1, 2}
    lanes.lane_changed(2, up=False)
    assert {worker_of_spi(lanes.place(int.from_bytes(os.urandom(4), "big")), 3) for _ in range(100)} == {1}
    lanes.lane_changed(1, up=False)  # all down: any lane, its install says why it fails
    assert {worker_of_spi(lanes.place(int.from_bytes(os.urandom(4), "big")), 3) for _ in range(100)} == {0}
    for lane in (0, 1, 2):
        lanes.lane_changed(lane, up=True)
    assert lanes.down == set()
    assert {worker_of_spi(lanes.place(int.from_bytes(os.urandom(4), "big")), 3) for _ in range(100)} == {0}


def test_no_lanes_is_refused() -> None:
    with pytest.raises(ValueError):
        SpiLanes(0)


def _even_spi_draws(n: int) -> bytes:
    """Random bytes, but every 4-byte draw (a Child SA SPI) even: unlaned, all in worker 0 of 2."""
    data = bytearray(os.urandom(n))
    if n == 4:
        data[3] &= 0xFE
    return bytes(data)


def _lanes_of_children(h: Harness, workers: int) -> list[int]:
    return sorted(worker_of_spi(c.spec.spi_in, workers) for sa in h.responder.sas.values()
                  if sa.state is State.ESTABLISHED for c in sa.children)


def test_the_responder_spreads_child_sas_over_the_lanes_through_rekeys_and_deletes(tmp_path: Path,
                                                                                    pki_dir: Path) -> None:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    h = Harness(Responder(build_settings(config), random=_even_spi_draws, child_spi_lanes=2))
    clients = [h.client(2), h.client(3), h.client(4, username="bob", password="Lab-Passw0rd-2"),
               h.client(5, username="bob", password="Lab-Passw0rd-2")]  # a user holds 3 sessions at most
    for c in clients:
        c.connect()
    assert _lanes_of_children(h, 2) == [0, 0, 1, 1]  # the draws alone would put all four in lane 0
    assert h.responder.spi_lanes.counts == [2, 2]
    for _ in range(4):  # each new pair takes its predecessor's lane: the plane stays balanced
        clients[0].rekey_child()
        clients[2].rekey_child()
    clients[1].rekey_ike()
    assert _lanes_of_children(h, 2) == [0, 0, 1, 1]
    assert h.responder.spi_lanes.counts == [2, 2]
    for c in clients[:3]:
        c.delete()
    assert h.responder.spi_lanes.counts == [0, 1] or h.responder.spi_lanes.counts == [1, 0]
    clients[3].delete()
    assert h.responder.spi_lanes.counts == [0, 0]


def test_without_lanes_the_draw_is_the_spi(tmp_path: Path, pki_dir: Path) -> None:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    h = Harness(Responder(build_settings(config), random=_even_spi_draws))
    for n in (2, 3):
        h.client(n).connect()
    assert _lanes_of_children(h, 2) == [0, 0]


class _LanedDataPlane(RecordingDataPlane):
    spi_lanes = 3

    def watch_lanes(self, on_lane: LaneCallback) -> None:
        self.on_lane = on_lane


def test_the_daemon_gives_the_responder_its_data_planes_lanes(tmp_path: Path, pki_dir: Path) -> None:
    config = make_config(tmp_path, **{f"store: {tmp_path / 'pki'}": f"store: {pki_dir}"})
    daemon = Daemon(load_config(tmp_path / "ikev2d.yaml"), dataplane=_LanedDataPlane())
    try:
        assert daemon.responder.spi_lanes.lanes == 3
        plane = daemon.dataplane
        assert isinstance(plane, _LanedDataPlane)
        plane.on_lane(1, False)  # the plane says a worker died: the responder's lanes hear it
        assert daemon.responder.spi_lanes.down == {1}
        plane.on_lane(1, True)
        assert daemon.responder.spi_lanes.down == set()
        assert Daemon(config).responder.spi_lanes.lanes == 1
    finally:
        daemon.crypto.close()

"""Every bind failure names the address, the port, the cause and the fix
(ikev2d/listen_errors.py, through `ikev2d run`)."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from ikev2d.cli import main
from ikev2d.listen_errors import Where, explain, port_holders, where_from

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def starter(tmp_path: Path) -> Path:
    assert main(["init", str(tmp_path / "gw")]) == 0
    return tmp_path / "gw" / "ikev2d.yaml"


def _run(config: Path, *extra: str) -> list[str]:
    return ["run", "--config", str(config), "--dataplane", "none", "--crypto-workers", "0", "--control", "",
            *extra]


def test_a_port_in_use_names_who_holds_it(starter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        assert main(_run(starter, "--ike-port", str(port))) == 1
    err = capsys.readouterr().err
    assert f"ikev2d: cannot listen on UDP 127.0.0.1:{port}: Address already in use (held by " in err
    assert "(pid " in err and "Fix: stop that process" in err and "--ike-port N --natt-port M" in err


def test_an_address_this_host_lacks(starter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_run(starter, "--listen", "192.0.2.77")) == 1
    err = capsys.readouterr().err
    assert "cannot listen on UDP 192.0.2.77:10500: Cannot assign requested address" in err
    assert "not an address of this host" in err and "--listen 127.0.0.1" in err


def test_listen_and_ports_are_validated(starter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as bad_address:
        main(_run(starter, "--listen", "localhost"))
    assert bad_address.value.code == 64
    with pytest.raises(SystemExit) as bad_port:
        main(_run(starter, "--ike-port", "70000"))
    assert bad_port.value.code == 64
    assert main(_run(starter, "--ike-port", "14500")) == 64  # the same as nat_t_port
    assert "IKE needs two UDP ports" in capsys.readouterr().err


def test_privilege_explained_with_every_fix() -> None:
    text = explain(PermissionError(errno.EACCES, "Permission denied"), Where("UDP", "198.18.0.1", 500))
    assert text.startswith("cannot listen on UDP 198.18.0.1:500: Permission denied (ports below ")
    for fix in ("CAP_NET_BIND_SERVICE", "setcap cap_net_bind_service=+ep", "ikev2d init --systemd",
                "--ike-port 10500 --natt-port 14500", "ike_port/nat_t_port"):
        assert fix in text


def test_where_from_reads_the_transport_s_bind_error() -> None:
    assert where_from("cannot listen on UDP 10.0.0.1:4500: Permission denied") == Where("UDP", "10.0.0.1", 4500)
    assert where_from("something else") is None


def test_port_holders_reads_proc(tmp_path: Path) -> None:
    # a fake /proc: one UDP socket on port 500 (0x01F4), inode 4242, held by pid 7 "charon"
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "udp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "  1: 0100007F:01F4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2\n")
    fd = tmp_path / "7" / "fd"
    fd.mkdir(parents=True)
    (fd / "3").symlink_to("socket:[4242]")
    (tmp_path / "7" / "comm").write_text("charon\n")
    assert port_holders("UDP", 500, proc=tmp_path) == ["charon (pid 7)"]
    assert port_holders("UDP", 501, proc=tmp_path) == []


def test_unprivileged_ports_from_the_configuration(starter: Path) -> None:
    from ikev2d.conf import load_config
    ra = load_config(starter).remote_access_vpn
    assert (ra.ike_port, ra.nat_t_port) == (10500, 14500)
    assert load_config(ROOT / "config" / "ikev2d.yaml").remote_access_vpn.ike_port == 500


def test_init_systemd_writes_a_unit_with_the_capabilities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--systemd", "--address", "203.0.113.1", str(tmp_path)]) == 0
    unit = (tmp_path / "ikev2d.service").read_text()
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN" in unit
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN" in unit
    assert f"run --config {tmp_path / 'ikev2d.yaml'}" in unit
    config = (tmp_path / "ikev2d.yaml").read_text()
    assert "ike_port: 500" in config and "nat_t_port: 4500" in config and "address: 203.0.113.1" in config
    assert (tmp_path / "ikev2d.yaml").stat().st_mode & 0o077 == 0  # it holds a password
    assert main(["init", str(tmp_path)]) == 1  # never overwrites
    assert "already exist" in capsys.readouterr().err


def test_client_services_bind_failure_is_explained(starter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        web = holder.getsockname()[1]
        text = starter.read_text().replace("enable_ssl: false ", "enable_ssl: true  ")
        text = text.replace("  ike_port:", f"  web_access_port: {web}\n  ike_port:")
        starter.write_text(text)
        assert main(_run(starter)) == 1
    err = capsys.readouterr().err
    assert f"client services (SSL/DTLS, enable_ssl or enable_client_services): cannot listen on TCP 127.0.0.1:{web}:" \
           f" Address already in use (held by " in err


def test_check_config_here_takes_run_s_overrides(starter: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        busy = holder.getsockname()[1]
        assert main(["check-config", "--here", str(starter)]) == 0
        assert main(["check-config", "--here", "--ike-port", str(busy), str(starter)]) == 1
        assert main(["check-config", "--here", "--listen", "192.0.2.77", str(starter)]) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{busy}: Address already in use" in err and "192.0.2.77:10500" in err

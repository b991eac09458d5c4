"""check-config refuses what `run` would refuse (ikev2d/preflight.py), one
fixture per check, blamed on the line to change; --json and --here; exit
codes distinct for usage (64), invalid (1) and not compliant (2)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ikev2d.cli import main

DATA = Path(__file__).resolve().parent / "data" / "preflight"
ROOT = Path(__file__).resolve().parents[2]


def _pem_pair(folder: Path) -> None:
    """cert.pem and the key of *another* certificate, other.key."""
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vpn.example.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "other.key").write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    folder = tmp_path / "preflight"
    shutil.copytree(DATA, folder)
    _pem_pair(folder)
    return folder


# fixture -> (text on the blamed line, words of the problem)
REFUSED = {
    "bad_no_ikev2_interface.yaml": ("enable_ipsec_ikev2: false", "no access interface has IPsec-IKEv2 enabled"),
    "bad_certificate_missing.yaml": ("certificate: absent.pem", "cannot read"),
    "bad_certificate_garbage.yaml": ("certificate: garbage.pem", "not a PEM certificate"),
    "bad_certificate_key_mismatch.yaml": ("private_key: other.key", "does not match the certificate"),
    "bad_store_unwritable.yaml": ("store: garbage.pem/pki", "garbage.pem is not a folder"),
    "bad_log_file_unwritable.yaml": ("file: garbage.pem/ikev2d.log", "garbage.pem is not a folder"),
    "bad_trusted_ca_garbage.yaml": ("certificate: garbage.pem   # defect: not a certificate", "not a PEM certificate"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_check_config_refuses_what_run_refuses(name: str, fixtures: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = fixtures / name
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    line_text, words = REFUSED[name]
    (problem,) = [line for line in err if ": error: " in line]
    file_line = int(problem.split(":")[1])
    assert line_text in path.read_text().splitlines()[file_line - 1], problem
    assert words in problem and ". Fix: " in problem
    assert err[-1].endswith("`ikev2d run` would refuse this configuration")


def test_the_base_fixture_passes(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # so each bad fixture fails for its own reason only
    assert main(["check-config", str(fixtures / "good_loopback.yaml")]) == 0
    assert "configuration is valid; compliant" in capsys.readouterr().out


def test_one_port_for_ike_and_nat_t_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(DATA / "bad_ports_same.yaml")]) == 1
    assert "nat_t_port 10500 is also the ike_port" in capsys.readouterr().err


def test_here_reports_a_port_in_use_and_who_holds_it(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        path = fixtures / "busy.yaml"
        path.write_text((fixtures / "good_loopback.yaml").read_text().replace("ike_port: 10500", f"ike_port: {port}"))
        assert main(["check-config", str(path)]) == 0  # not a question about this host unless --here
        capsys.readouterr()
        assert main(["check-config", "--here", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on UDP 127.0.0.1:{port}: Address already in use" in err
    assert "(pid " in err and "Fix: stop that process" in err  # this very process holds it


def test_here_reports_an_address_this_host_lacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--here", str(ROOT / "config" / "ikev2d.yaml")]) in (0, 1)
    err = capsys.readouterr().err
    if "198.18.0.1" in err:  # absent outside the lab's namespace
        assert "not an address of this host" in err and "--listen" in err


def test_yaml_syntax_error_has_line_and_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("device:\n  hostname: a: b\n")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: invalid YAML: mapping values are not allowed here (column 14)" in err
    assert "hint: a second ':' on the line: quote a value" in err


def test_json_output(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--json", str(ROOT / "config" / "weak.yaml")]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True and report["compliant"] is False and report["exit"] == 2
    assert any(f["severity"] == "error" and f["line"] > 0 and f["fix"] for f in report["findings"])
    assert main(["check-config", "--json", str(fixtures / "bad_certificate_garbage.yaml")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and report["checks"][0]["severity"] == "error"
    assert main(["check-config", "--json", str(DATA / "bad_ports_same.yaml")]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"][0]["problem"].startswith("nat_t_port 10500")


def test_exit_codes_are_distinct(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["check-config"])
    assert usage.value.code == 64
    with pytest.raises(SystemExit) as unknown:
        main(["no-such-command"])
    assert unknown.value.code == 64
    assert main(["check-config", str(ROOT / "config" / "ikev2d.yaml")]) == 0
    assert main(["check-config", str(ROOT / "config" / "weak.yaml")]) == 2
    assert main(["check-config", str(DATA / "bad_ports_same.yaml")]) == 1


def test_daemon_unreachable_is_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    absent = str(tmp_path / "none.sock")
    assert main(["show", "vpn-sessiondb", "--control", absent]) == 3
    assert main(["vpn-sessiondb", "logoff", "name", "alice", "--control", absent]) == 3
    assert main(["reload", "--control", absent]) == 3
    assert main(["vpn-sessiondb", "logoff", "nobody", "--control", absent]) == 64
    assert "does not exist (is `ikev2d run` running?)" in capsys.readouterr().err

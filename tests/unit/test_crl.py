"""CRL revocation checking of client certificates (a trustpoint's
`revocation-check crl`, pki/crl.py): the verdict from a CRL (revoked, good,
expired, badly signed, unreachable), its cache until nextUpdate or
cache-time, and in a full IKE_AUTH the CRL fetched as a job, from a file
or from an HTTP server on loopback, with the FTD's 717xxx lines."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ikev2d.conf.errors import ConfigError
from ikev2d.conf.model import TrustedCa
from ikev2d.events import CertificateChecked, CrlUnusable, IkeSaEstablished
from ikev2d.iana import NotifyType
from ikev2d.pki.crl import CachedCrl, CrlCache, CrlFetch, CrlFetched, FetchedSource, Status, Trustpoint, Verdict, check
from ikev2d.pki.crl_fetch import fetch_crl
from ikev2d.syslog.render import records_for
from lab.initiator import IkeFailure
from lab.pki import LabPki, PrivateKey, make_ca, make_crl, make_lab_pki, new_key

from responder_harness import Harness, certificate_harness


@pytest.fixture(scope="module")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return make_lab_pki(tmp_path_factory.mktemp("labpki"))


def _ca(pki: LabPki) -> tuple[x509.Certificate, PrivateKey]:
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    return x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()), key  # type: ignore[return-value]


def _user(pki: LabPki, name: str) -> tuple[x509.Certificate, PrivateKey]:
    ident = pki.client_identity(name)
    key = serialization.load_pem_private_key(ident.key.read_bytes(), password=None)
    return x509.load_pem_x509_certificate(ident.cert.read_bytes()), key  # type: ignore[return-value]


def _trustpoint(pki: LabPki, check_mode: str = "crl", urls: tuple[str, ...] = ("/crl/lab.crl",),
                **options: object) -> Trustpoint:
    ca, _ = _ca(pki)
    return Trustpoint(TrustedCa("LAB-CA", pki.ca_cert, check_mode, urls, **options), (ca,))  # type: ignore[arg-type]


def _fetched(data: bytes | None, source: str = "/crl/lab.crl") -> CrlFetched:
    return CrlFetched("LAB-CA", (FetchedSource(source, data, "" if data else "connection refused"),))


def _der(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.DER)


# --- the verdict --------------------------------------------------------------------


def test_no_cached_crl_asks_for_a_fetch_of_every_source(lab_pki: LabPki, now: dt.datetime) -> None:
    carol, _ = _user(lab_pki, "carol")
    ca, _ = _ca(lab_pki)
    tp = _trustpoint(lab_pki, urls=("http://127.0.0.1:9/a.crl", "/crl/b.crl"))
    assert check(tp, CrlCache(), carol, ca, now) == CrlFetch("LAB-CA", ("http://127.0.0.1:9/a.crl", "/crl/b.crl"))


def test_revoked_and_good(lab_pki: LabPki, now: dt.datetime) -> None:
    carol, _ = _user(lab_pki, "carol")
    dave, _ = _user(lab_pki, "dave")
    ca, ca_key = _ca(lab_pki)
    tp, cache = _trustpoint(lab_pki), CrlCache()
    crl = _der(make_crl(ca, ca_key, [carol]))
    assert check(tp, cache, carol, ca, now, _fetched(crl)) == Verdict(Status.REVOKED)
    # cached now: no fetch for the next client
    assert check(tp, cache, dave, ca, now) == Verdict(Status.GOOD)


def test_pem_crl_is_read_too(lab_pki: LabPki, now: dt.datetime) -> None:
    carol, _ = _user(lab_pki, "carol")
    ca, ca_key = _ca(lab_pki)
    pem = make_crl(ca, ca_key, [carol]).public_bytes(serialization.Encoding.PEM)
    assert check(_trustpoint(lab_pki), CrlCache(), carol, ca, now, _fetched(pem)).status is Status.REVOKED  # type: ignore[union-attr]


@pytest.mark.parametrize("case, reason", [
    ("expired", "CRL has expired (NextUpdate is past)"),
    ("other CA", "CRL signature verification failed"),
    ("garbage", "not a DER or PEM CRL"),
])
def test_an_unusable_crl_fails_closed_with_717019(lab_pki: LabPki, case: str, reason: str, now: dt.datetime) -> None:
    carol, _ = _user(lab_pki, "carol")
    ca, ca_key = _ca(lab_pki)
    if case == "expired":
        data = _der(make_crl(ca, ca_key, [], next_update=dt.timedelta(hours=1),
                             this_update=now - dt.timedelta(hours=2)))
    elif case == "other CA":  # the lab CA's name, another key
        impostor_key = new_key()
        data = _der(make_crl(make_ca(impostor_key), impostor_key, []))
    else:
        data = b"\x30\x03\x02\x01\x00"
    verdict = check(_trustpoint(lab_pki), CrlCache(), carol, ca, now, _fetched(data))
    assert isinstance(verdict, Verdict) and verdict.status is Status.UNAVAILABLE
    [problem] = verdict.problems
    assert (problem.unreachable, problem.reason) == (False, reason)


def test_next_update_is_not_enforced_when_the_trustpoint_says_so(lab_pki: LabPki, now: dt.datetime) -> None:
    carol, _ = _user(lab_pki, "carol")
    ca, ca_key = _ca(lab_pki)
    data = _der(make_crl(ca, ca_key, [carol], next_update=dt.timedelta(hours=1), this_update=now - dt.timedelta(hours=2)))
    tp = _trustpoint(lab_pki, crl_enforce_next_update=False)
    assert check(tp, CrlCache(), carol, ca, now, _fetched(data)) == Verdict(Status.REVOKED)


def test_unreachable_fails_closed_unless_crl_none(lab_pki: LabPki, now: dt.datetime) -> None:
    carol, _ = _user(lab_pki, "carol")
    ca, _ = _ca(lab_pki)
    strict = check(_trustpoint(lab_pki), CrlCache(), carol, ca, now, _fetched(None))
    assert isinstance(strict, Verdict) and strict.status is Status.UNAVAILABLE
    assert strict.problems[0].unreachable and strict.problems[0].reason == "connection refused"
    lenient = check(_trustpoint(lab_pki, "crl none"), CrlCache(), carol, ca, now, _fetched(None))
    assert isinstance(lenient, Verdict) and lenient.status is Status.GOOD and lenient.accepted_unchecked


def test_cache_lasts_until_next_update_or_cache_time_whichever_is_first(lab_pki: LabPki, now: dt.datetime) -> None:
    carol, _ = _user(lab_pki, "carol")
    ca, ca_key = _ca(lab_pki)
    cache = CrlCache()
    short = _der(make_crl(ca, ca_key, [], next_update=dt.timedelta(minutes=20), this_update=now - dt.timedelta(minutes=5)))
    assert check(_trustpoint(lab_pki), cache, carol, ca, now, _fetched(short)) == Verdict(Status.GOOD)
    [entry] = cache.entries.values()
    assert abs((entry.expires - now).total_seconds() - 15 * 60) < 1  # nextUpdate, before the 60 min cache-time
    assert check(_trustpoint(lab_pki), cache, carol, ca, now + dt.timedelta(minutes=14)) == Verdict(Status.GOOD)
    assert isinstance(check(_trustpoint(lab_pki), cache, carol, ca, now + dt.timedelta(minutes=16)), CrlFetch)
    assert not cache.entries  # the stale one is gone
    # a day-long CRL is kept cache-time (crl_cache_minutes) only; the refresh sees carol revoked
    tp = _trustpoint(lab_pki, crl_cache_minutes=10)
    assert check(tp, cache, carol, ca, now, _fetched(_der(make_crl(ca, ca_key, [])))) == Verdict(Status.GOOD)
    later = now + dt.timedelta(minutes=11)
    assert isinstance(check(tp, cache, carol, ca, later), CrlFetch)
    revoked = _der(make_crl(ca, ca_key, [carol]))
    assert check(tp, cache, carol, ca, later, _fetched(revoked)) == Verdict(Status.REVOKED)


def test_distribution_point_comes_first_then_static_urls(lab_pki: LabPki, now: dt.datetime) -> None:
    ca, _ = _ca(lab_pki)
    ident = lab_pki.client_identity("erin", crl_url="http://198.18.0.9/lab.crl")
    erin = x509.load_pem_x509_certificate(ident.cert.read_bytes())
    assert check(_trustpoint(lab_pki), CrlCache(), erin, ca, now) == \
        CrlFetch("LAB-CA", ("http://198.18.0.9/lab.crl", "/crl/lab.crl"))
    assert check(_trustpoint(lab_pki, crl_use_distribution_point=False), CrlCache(), erin, ca, now) == \
        CrlFetch("LAB-CA", ("/crl/lab.crl",))


def test_a_stale_entry_is_dropped_from_the_cache(lab_pki: LabPki, now: dt.datetime) -> None:
    ca, ca_key = _ca(lab_pki)
    cache = CrlCache()
    cache.put("LAB-CA", CachedCrl(make_crl(ca, ca_key, []), "x", now))
    assert cache.get("LAB-CA", "x", now - dt.timedelta(seconds=1)) is not None
    assert cache.get("LAB-CA", "x", now) is None and not cache.entries


# --- the fetcher --------------------------------------------------------------------


class _CrlServer:
    """A loopback HTTP server that serves one CRL and counts its requests."""

    def __init__(self, body: bytes) -> None:
        self.body, self.requests = body, 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests += 1
                self.send_response(200 if self.path == "/lab.crl" else 404)
                self.send_header("Content-Type", "application/pkix-crl")
                self.end_headers()
                if self.path == "/lab.crl":
                    self.wfile.write(owner.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/lab.crl"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def crl_server(lab_pki: LabPki) -> Iterator[_CrlServer]:
    carol, _ = _user(lab_pki, "carol")
    ca, ca_key = _ca(lab_pki)
    server = _CrlServer(_der(make_crl(ca, ca_key, [carol])))
    yield server
    server.close()


def test_fetch_from_http_file_and_nowhere(tmp_path: Path, crl_server: _CrlServer, lab_pki: LabPki) -> None:
    path = lab_pki.issue_crl(tmp_path / "lab.crl", [lab_pki.client_identity("carol").cert])
    missing = crl_server.url.replace("lab.crl", "missing.crl")
    fetched = fetch_crl(CrlFetch("LAB-CA", (crl_server.url, str(path), missing, str(tmp_path / "none.crl"),
                                            "http://127.0.0.1:9/lab.crl")), timeout=2)
    web, file, not_found, no_file, refused = fetched.results
    assert web.data == crl_server.body and file.data == path.read_bytes()
    assert not_found.data is None and "Not Found" in not_found.error
    assert no_file.data is None and refused.data is None and refused.error


# --- in IKE_AUTH --------------------------------------------------------------------


def _harness(tmp_path: Path, pki_dir: Path, pki: LabPki, revocation: str) -> Harness:
    """Certificate-only authentication, the lab CA trusted with `revocation` lines."""
    return certificate_harness(tmp_path, pki_dir, pki.ca_cert, "client-certificate", revocation)


def _lines(h: Harness) -> list[str]:
    return [r.line() for e in h.events(CertificateChecked) + h.events(CrlUnusable) for r in records_for(e)]


def _refused(h: Harness, cert: x509.Certificate, key: PrivateKey) -> None:
    with pytest.raises(IkeFailure) as caught:
        h.client(client_certificate=cert, client_key=key).connect()
    assert caught.value.notify == NotifyType.AUTHENTICATION_FAILED
    assert not h.events(IkeSaEstablished)


def test_revoked_certificate_by_a_crl_file_is_refused(tmp_path: Path, pki_dir: Path, lab_pki: LabPki) -> None:
    crl = lab_pki.issue_crl(tmp_path / "lab.crl", [lab_pki.client_identity("carol").cert])
    h = _harness(tmp_path, pki_dir, lab_pki, f"      revocation_check: crl\n      crl_urls: [{crl}]\n")
    carol, carol_key = _user(lab_pki, "carol")
    _refused(h, carol, carol_key)
    assert _lines(h) == ["%FTD-3-717027: Certificate chain failed validation. Certificate is revoked."]
    dave, dave_key = _user(lab_pki, "dave")
    h.client(3, client_certificate=dave, client_key=dave_key).connect()
    assert len(h.events(IkeSaEstablished)) == 1
    assert _lines(h)[-1].startswith("%FTD-6-717028: Certificate chain was successfully validated with revocation "
                                    "status check.")


def test_crl_from_http_is_fetched_once_then_cached(tmp_path: Path, pki_dir: Path, lab_pki: LabPki,
                                                   crl_server: _CrlServer) -> None:
    h = _harness(tmp_path, pki_dir, lab_pki, f"      revocation_check: crl\n      crl_urls: [{crl_server.url}]\n")
    carol, carol_key = _user(lab_pki, "carol")
    dave, dave_key = _user(lab_pki, "dave")
    _refused(h, carol, carol_key)
    h.client(3, client_certificate=dave, client_key=dave_key).connect()
    h.client(4, client_certificate=dave, client_key=dave_key).connect()
    assert crl_server.requests == 1
    assert len(h.events(IkeSaEstablished)) == 2


def test_unreachable_crl_fails_closed_with_717010(tmp_path: Path, pki_dir: Path, lab_pki: LabPki) -> None:
    h = _harness(tmp_path, pki_dir, lab_pki, "      revocation_check: crl\n"
                                              "      crl_urls: [http://127.0.0.1:9/lab.crl]\n")
    dave, dave_key = _user(lab_pki, "dave")
    _refused(h, dave, dave_key)
    assert _lines(h) == ["%FTD-3-717027: Certificate chain failed validation. Certificate chain is either "
                         "invalid or not authorized.",
                         "%FTD-3-717010: CRL polling failed for trustpoint LAB-CA."]


def test_unreachable_crl_with_crl_none_is_accepted_unchecked(tmp_path: Path, pki_dir: Path, lab_pki: LabPki) -> None:
    h = _harness(tmp_path, pki_dir, lab_pki, "      revocation_check: crl none\n"
                                              "      crl_urls: [http://127.0.0.1:9/lab.crl]\n")
    dave, dave_key = _user(lab_pki, "dave")
    h.client(client_certificate=dave, client_key=dave_key).connect()
    assert len(h.events(IkeSaEstablished)) == 1
    assert "with warning, revocation status was not checked" in _lines(h)[1]


@pytest.mark.parametrize("lines, message, culprit", [
    ("      revocation_check: ocsp\n", "unknown revocation_check 'ocsp'", "revocation_check"),
    ("      revocation_check: crl\n      crl_urls: [ldap://198.18.0.9/cn=lab]\n", "only http:// URLs and files",
     "crl_urls"),
    ("      revocation_check: crl\n      crl_cache_minutes: 2000\n", "crl_cache_minutes", "crl_cache_minutes"),
    ("      revocation_check: crl\n      crl_use_distribution_point: false\n", "has no source",
     "revocation_check"),
])
def test_revocation_config_errors_name_the_line(tmp_path: Path, pki_dir: Path, lab_pki: LabPki, lines: str,
                                                message: str, culprit: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _harness(tmp_path, pki_dir, lab_pki, lines)
    issue = caught.value.issues[0]  # the client-certificate profile then has no trusted CA: a second issue
    assert message in issue.problem, caught.value.issues
    assert culprit in (tmp_path / "ikev2d.yaml").read_text().splitlines()[issue.line - 1]


def test_crl_none_with_spaces_and_case_and_a_relative_file(tmp_path: Path, pki_dir: Path, lab_pki: LabPki) -> None:
    h = _harness(tmp_path, pki_dir, lab_pki, "      revocation_check: ' CRL   none'\n      crl_urls: [crl/lab.crl]\n")
    [trustpoint] = h.responder.settings.trustpoints
    assert trustpoint.config.revocation_check == "crl none"
    assert trustpoint.config.crl_urls == (str(tmp_path / "crl" / "lab.crl"),)

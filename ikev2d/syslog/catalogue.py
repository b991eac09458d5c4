"""The FTD syslog messages ikev2d emits: ID, severity and text, each once.

Wording follows Cisco's syslog message guide (the "ASA guide" below) and
docs/ftd-behaviour.md ("Syslog messages"); the whitepaper's log table shows the
order. Where a fact is not confirmed, the comment beside the entry says so:
this file is the one place to correct it.

Templates are `str.format` strings; `render.py` supplies every field as
text already in the FTD's notation (addresses, SPIs, durations).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

# FTD ≥ 6.3 tags its messages %FTD-; an ASA says %ASA-.
PLATFORM = "FTD"

SEVERITY_NAMES = {
    0: "emergencies", 1: "alerts", 2: "critical", 3: "errors",
    4: "warnings", 5: "notifications", 6: "informational", 7: "debugging",
}


@dataclass(frozen=True)
class Message:
    id: int
    severity: int
    template: str
    note: str = ""  # where the wording comes from when it is not certain

    def fields(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.template) if name}

    def record(self, **values: str) -> "Record":
        return Record(self.id, self.severity, template=self.template, values=values)


class Record:
    """One message with its values filled in.

    The text is formatted on first use: most records an event makes sit
    below the VPN logging level (the FTD's default is errors) and are
    dropped unread, so formatting them up front was most of the syslog
    pipeline's cost per connect."""

    __slots__ = ("id", "severity", "_text", "_template", "_values")

    def __init__(self, id: int, severity: int, text: str = "", *, template: str | None = None,
                 values: dict[str, str] | None = None) -> None:
        self.id = id
        self.severity = severity
        self._text: str | None = text if template is None else None
        self._template = template
        self._values = values

    @property
    def text(self) -> str:
        if self._text is None:
            assert self._template is not None and self._values is not None
            try:
                self._text = self._template.format(**self._values)
            except (KeyError, IndexError, ValueError):  # a catalogue bug: say so, never raise into a sink
                self._text = f"{self._template} (unformatted: {sorted(self._values)})"
            self._template = self._values = None
        return self._text

    @property
    def tag(self) -> str:
        return f"%{PLATFORM}-{self.severity}-{self.id}"

    def line(self) -> str:
        return f"{self.tag}: {self.text}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (self.id, self.severity, self.text) == (other.id, other.severity, other.text)

    def __hash__(self) -> int:
        return hash((self.id, self.severity, self.text))

    def __repr__(self) -> str:
        return f"Record(id={self.id!r}, severity={self.severity!r}, text={self.text!r})"


_IKE = "Local:{local} Remote:{remote} Username:{username} IKEv2 "
_IPAA = "IPAA: Session={session}, "
_IPSEC = "IPSEC: An {direction} remote access SA (SPI= {spi}) between {local_ip} and {remote_ip} (user= {username}) "
_UAUTH = "UAUTH: Session={session}, User={username}, Assigned IP={address}, "

_MESSAGES = [
    # -- IKEv2 (750xxx, 751xxx) -------------------------------------------
    # The ASA guide omits "IKEv2"; the whitepaper's table shows it.
    Message(750002, 5, _IKE + "Received a IKE_INIT_SA request"),
    Message(750003, 4, _IKE + "Negotiation aborted due to ERROR: {error}"),
    Message(750004, 5, _IKE + "Sending COOKIE challenge to throttle possible DoS"),
    Message(750006, 5, _IKE + "SA UP. Reason: {reason}"),
    Message(750007, 5, _IKE + "SA DOWN. Reason: {reason}"),
    # The whitepaper (FMC's rendering) shows "IPv4 Address:"; the ASA guide "=".
    # docs/ftd-behaviour.md notes the difference; the guide's "=" stays: the
    # table is a transcription of a screenshot (this line says .200 where
    # the others say .205, and "0.0.0"), so its IDs, order and severities
    # are followed, not its punctuation.
    Message(751025, 5, _IKE + "Group:{group_policy} IPv4 Address={ipv4} IPv6 address={ipv6} assigned to session"),
    Message(751026, 6, _IKE + "Client OS: {client_os} Client: {client}",
            note="what an FTD prints for a client that names neither OS nor version is unconfirmed"),
    # -- PKI (717xxx): client certificate validation -----------------------
    Message(717009, 3, "Certificate validation failed. {reason}, serial number: {serial}, subject name: {subject}.",
            note="reason strings: see CERTIFICATE_FAILURE_REASONS"),
    Message(717022, 6, "Certificate was successfully validated. serial number: {serial}, subject name: {subject}."),
    Message(717027, 3, "Certificate chain failed validation. {reason}."),
    Message(717028, 6, "Certificate chain was successfully validated {additional_info}.",
            note="additional_info: see REVOCATION_NOT_CHECKED / REVOCATION_CHECKED"),
    # -- PKI: CRLs and certificate maps (the ASA guide's texts) --------------
    Message(717010, 3, "CRL polling failed for trustpoint {trustpoint}."),
    Message(717019, 3, "Failed to insert CRL for trustpoint {trustpoint}. Reason: {reason}.",
            note="reason wording is ours: unconfirmed"),
    Message(717036, 7, "Looking for a tunnel group match based on certificate maps for peer certificate with "
            "{certificate}."),
    Message(717037, 4, "Tunnel group search using certificate maps failed for peer certificate: {certificate}."),
    Message(717038, 7, "Tunnel group match found. Tunnel Group: {tunnel_group}, Peer certificate: {certificate}."),
    # -- AAA (113xxx) -------------------------------------------------------
    # aaa_type: authentication, authorization or accounting.
    Message(113004, 6, "AAA user {aaa_type} Successful : server = {server} : user = {username}"),
    Message(113005, 6, "AAA user authentication Rejected : reason = {reason} : server = {server} : "
                       "user = {username} : user IP = {user_ip}"),
    Message(113008, 6, "AAA transaction status ACCEPT : user = {username}"),
    Message(113009, 6, "AAA retrieved default group policy ({group_policy}) for user = {username}"),
    Message(113003, 6, "AAA group policy for user {username} is being set to {group_policy}",
            note="its place after 113009 in an FTD's sequence is unconfirmed"),
    # The local user database has its own pair of IDs in the ASA guide.
    Message(113012, 6, "AAA user authentication Successful : local database : user = {username}"),
    Message(113015, 6, "AAA user authentication Rejected : reason = {reason} : local database : "
                       "user = {username} : user IP = {user_ip}"),
    Message(113019, 4, "Group = {group}, Username = {username}, IP = {ip}, Session disconnected. "
                       "Session Type: {session_type}, Duration: {duration}, Bytes xmt: {bytes_xmt}, "
                       "Bytes rcv: {bytes_rcv}, Reason: {reason}",
            note="Group is the group policy: unconfirmed (the ASA guide says 'group name')"),
    Message(113039, 6, "Group <{group_policy}> User <{username}> IP <{ip}> AnyConnect parent session started."),
    # -- DAP ------------------------------------------------------------------
    Message(734001, 6, "DAP: User {username}, Addr {ip}, Connection {connection}: "
                       "The following DAP records were selected for this connection: {records}"),
    # -- IP address assignment (737xxx) ------------------------------------
    # The whitepaper's table writes "Session=0x00006000:"; the guide and
    # device samples a comma.
    Message(737003, 5, _IPAA + "DHCP configured, no viable servers found for tunnel-group '{tunnel_group}'"),
    Message(737006, 6, _IPAA + "Local pool request succeeded for tunnel-group '{tunnel_group}'"),
    Message(737012, 4, _IPAA + "Address assignment failed"),
    Message(737016, 6, _IPAA + "Freeing local pool {pool} address {address}"),
    Message(737019, 4, _IPAA + "Unable to get address from group-policy or tunnel-group local pools"),
    Message(737026, 6, _IPAA + "Client assigned {address} from local pool {pool}"),
    # Severity 5 as in the whitepaper's table (the guide's entry is garbled);
    # both of its IPv6 lines are taken to be 737034: unconfirmed.
    Message(737034, 5, _IPAA + "IPv6 address: {explanation}"),
    # -- IPsec (602xxx) -----------------------------------------------------
    Message(602303, 6, _IPSEC + "has been created."),
    Message(602304, 6, _IPSEC + "has been deleted."),
    # -- VPN user entry (109xxx) -------------------------------------------
    # The whitepaper's table: "UAUTH: Session=0x00006000: User=adm-marin.
    # Assigned IP=172.31.1.205. Succeeded adding entry", Notice; the guide:
    # 109201, severity 5, commas.
    Message(109201, 5, _UAUTH + "Succeeded adding entry."),
    # The guide: sent when the tunnel is torn down (by analogy, unconfirmed
    # that an FTD prints it for IKEv2 remote access).
    Message(109210, 5, _UAUTH + "Succeeded removing entry."),
    # -- local hosts (609xxx), severity 7: the only debugging-level messages
    # of an IKEv2 RA session ikev2d emits. The guide: "Built local-host
    # zone-name/*:ip-address"; without zones the device prints the
    # interface, as in public ASA logs of a VPN session (the client's
    # assigned address, on the interface its session came in on).
    Message(609001, 7, "Built local-host {interface}:{address}"),
    Message(609002, 7, "Teardown local-host {interface}:{address} duration {duration}",
            note="duration as the guide's connection teardowns print it: h:mm:ss"),
]

CATALOGUE: dict[int, Message] = {m.id: m for m in _MESSAGES}

# -- values the FTD prints that ikev2d has no counterpart for --------------

DAP_DEFAULT_RECORD = "DfltAccessPolicy"  # the whitepaper transcribes it "DftAccessPolicy"
CONNECTION_TYPE = "AnyConnect"  # 734001: how an FTD names an IKEv2 RA connection
SESSION_TYPE = "IKEv2"  # 113019
NO_IPV6 = "invalid-addr-2-0.0.0.0"  # 751025 without an IPv6 pool
SA_UP_REASON = "New Connection Established"
# 737034's two lines in the whitepaper, in its order.
NO_IPV6_EXPLANATIONS = ("no IPv6 address available from local pools", "no IPv6 address returned")
HIDDEN_USERNAME = "*****"  # 113005/113015 hide the name of a rejected user
UNKNOWN = "Unknown"

# 717009's reason for a client certificate by cert_verify.Failure value
# (wording as seen in ASA logs quoted publicly; unconfirmed for an FTD), and
# 717027's for a chain that fails otherwise.
CERTIFICATE_FAILURE_REASONS = {
    "expired": "Certificate has expired",
    "not yet valid": "Certificate is not yet valid",
    "unknown CA": "No suitable trustpoints found to validate certificate",
    "malformed": "Certificate could not be parsed",
}
CHAIN_FAILURE_REASON = "Certificate chain is either invalid or not authorized"
# 717027 for a revoked certificate: the wording of 717032's "Certificate is
# revoked" (the guide's OCSP reasons); what an FTD prints for a CRL's
# verdict is unconfirmed. A CRL that cannot be had gives the generic reason.
REVOKED_REASON = "Certificate is revoked"
REVOCATION_NOT_CHECKED = "with warning, revocation status was not checked"
REVOCATION_CHECKED = "with revocation status check"

# Reasons for 113015 by the EAP method's reason (ikev2d.eap.method);
# the ASA's local database wording for an unknown user is unconfirmed.
LOCAL_REJECT_REASONS = {"wrong password": "Invalid password", "unknown user": "Invalid password"}
RADIUS_REJECT_REASON = "AAA failure"

# 113019's reason for the core's teardown reasons (the guide lists the
# FTD's); a DPD failure as "Lost Service" is unconfirmed.
DISCONNECT_REASONS = {
    "User Requested": "User Requested",
    "Administrator Reset": "Administrator Reset",
    "Administrator Reboot": "Administrator Reboot",  # ikev2d stopping (SIGTERM): our choice
    "Peer not responding (DPD)": "Lost Service",
    "Idle Timeout": "Idle Timeout",
    "Timeout": "Idle Timeout",
    # a session taken over by a newer one of the same user: the reason is
    # unconfirmed (docs/ftd-behaviour.md, "Session limits of a group policy")
    "Peer reconnected (INITIAL_CONTACT)": "Port Preempted",
    "Simultaneous logins exceeded": "Port Preempted",
    "Max time exceeded": "Max time exceeded",
}

# 750003 / 750004 for an IKE_SA_INIT refused with a notify (wording from the
# guide's list of 750003 errors; the mapping itself is ours).
INIT_REJECT_ERRORS = {
    "NO_PROPOSAL_CHOSEN": "Failed to find a matching policy",
    "INVALID_KE_PAYLOAD": "The peer's KE payload contained the wrong DH group",
    "INVALID_SYNTAX": "Detected an invalid value in the packet",
    "UNSUPPORTED_CRITICAL_PAYLOAD": "Detected unsupported critical payload",
    "TEMPORARY_FAILURE": "Negotiating limit reached, deny SA request",
}

"""The RADIUS attributes ikev2d sends and reads, as a pyrad dictionary.

Only what a remote-access headend needs (RFC 2865, 2866, 2869, 3162, 3579, the
Framed-IPv6-Address of RFC 6911, the
two Microsoft MPPE key attributes of RFC 2548 and Cisco's Group-Policy,
vendor 3076 attribute 25), in the FreeRADIUS dictionary
format pyrad reads. Kept in the code rather than a data file so an installed
package can never lose it.
"""

from __future__ import annotations

import functools
import io

from pyrad.dictionary import Dictionary

_TEXT = """
ATTRIBUTE   User-Name               1   string
ATTRIBUTE   User-Password           2   string  encrypt=1
ATTRIBUTE   NAS-IP-Address          4   ipaddr
ATTRIBUTE   NAS-Port                5   integer
ATTRIBUTE   Service-Type            6   integer
ATTRIBUTE   Framed-Protocol         7   integer
ATTRIBUTE   Framed-IP-Address       8   ipaddr
ATTRIBUTE   Framed-MTU              12  integer
ATTRIBUTE   Reply-Message           18  string
ATTRIBUTE   State                   24  octets
ATTRIBUTE   Class                   25  octets
ATTRIBUTE   Session-Timeout         27  integer
ATTRIBUTE   Idle-Timeout            28  integer
ATTRIBUTE   Called-Station-Id       30  string
ATTRIBUTE   Calling-Station-Id      31  string
ATTRIBUTE   NAS-Identifier          32  string
ATTRIBUTE   Acct-Status-Type        40  integer
ATTRIBUTE   Acct-Delay-Time         41  integer
ATTRIBUTE   Acct-Input-Octets       42  integer
ATTRIBUTE   Acct-Output-Octets      43  integer
ATTRIBUTE   Acct-Session-Id         44  string
ATTRIBUTE   Acct-Authentic          45  integer
ATTRIBUTE   Acct-Session-Time       46  integer
ATTRIBUTE   Acct-Input-Packets      47  integer
ATTRIBUTE   Acct-Output-Packets     48  integer
ATTRIBUTE   Acct-Terminate-Cause    49  integer
ATTRIBUTE   Acct-Input-Gigawords    52  integer
ATTRIBUTE   Acct-Output-Gigawords   53  integer
ATTRIBUTE   Event-Timestamp         55  date
ATTRIBUTE   NAS-Port-Type           61  integer
ATTRIBUTE   Tunnel-Client-Endpoint  66  string
ATTRIBUTE   EAP-Message             79  octets
ATTRIBUTE   Message-Authenticator   80  octets
ATTRIBUTE   NAS-IPv6-Address        95  ipv6addr
ATTRIBUTE   Framed-IPv6-Address     168 ipv6addr

VENDOR      Microsoft               311
BEGIN-VENDOR Microsoft
ATTRIBUTE   MS-MPPE-Send-Key        16  octets  encrypt=2
ATTRIBUTE   MS-MPPE-Recv-Key        17  octets  encrypt=2
END-VENDOR  Microsoft

VENDOR      Cisco-VPN3000           3076
BEGIN-VENDOR Cisco-VPN3000
ATTRIBUTE   ASA-Group-Policy        25  string
END-VENDOR  Cisco-VPN3000
"""


@functools.cache
def radius_dictionary() -> Dictionary:
    return Dictionary(io.StringIO(_TEXT))

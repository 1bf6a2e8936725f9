# Copyright 2026 jetson_vlm_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Which requests the gateway serves at all: no DNS rebinding, no cross-site use (no ROS, no aiohttp).

A web page in any browser on the robot could otherwise reach a loopback-only gateway: by DNS
rebinding (its own name, evil.example, made to resolve to 127.0.0.1: the browser then lets
the page read the answers, and sends `Host: evil.example`), or by a cross-site "simple"
request (a form or `text/plain` POST, which browsers send without asking the server first).
So, before anything else:

- Host: the request's host name (port ignored: a reverse proxy or a port forward may change
  it) must be the gateway's own. Always `localhost`, `127.0.0.1`, `::1`, the bound address and
  the names in gateway_allowed_hosts. When the gateway serves other machines (bound to a
  non-loopback address, e.g. 0.0.0.0), also this machine's host name (`jetson`,
  `jetson.local`) and any IP address: a client that names an address connected to that
  address, while DNS rebinding always carries the attacker's name. Missing Host: refused.
- Origin (sent by browsers): absent (curl, the openai client), the request's own origin
  (`http://` + its Host: the status page) or one listed in gateway_allowed_origins. Listed
  origins get CORS headers (never `*`), so a web app on another port can use the API.
- Sec-Fetch-Site (sent by browsers): a request a page of another site made (an `<img>` of
  the frame, which sends no Origin) is refused, except a top-level navigation (a link) and
  a listed origin's CORS request.
- Content type: a request with a body (Content-Length above 0, or chunked) must send
  `application/json` (charset, if given, utf-8): browsers cannot send that cross-site without
  a CORS preflight, which only listed origins pass.
"""

from dataclasses import dataclass
from functools import lru_cache
import ipaddress
import re
import socket
from typing import Optional, Union
from urllib.parse import urlsplit

# Statuses of the refusals (OpenAI error JSON, see openai_gateway._ERROR_TYPES).
HOST_REFUSED = 421  # Misdirected Request: this server does not answer for that name
ORIGIN_REFUSED = 403
CONTENT_TYPE_REFUSED = 415

LOOPBACK_NAMES = ('localhost', '127.0.0.1', '::1')
WILDCARD_ADDRESSES = ('', '0.0.0.0', '::')
JSON_TYPE = 'application/json'
DEFAULT_PORTS = {'http': 80, 'https': 443}
# A DNS name (labels of letters, digits, '-', '_'), as it may appear in a Host header.
_NAME = re.compile(r'[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*')
_PORT = re.compile(r'[0-9]{1,5}')
# Header names a preflight may ask for (RFC 9110 tokens), comma-separated.
_HEADER_LIST = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")
SHOWN = 100  # characters of a client's header quoted in a refusal

# scheme, host, port: the parts by which two origins are the same.
OriginKey = tuple[str, str, int]


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: an HTTP status and a message for the client."""

    status: int
    message: str


@dataclass(frozen=True)
class Admission:
    """A request that may be served; cors_origin is the listed origin to echo, if any."""

    cors_origin: Optional[str] = None


@dataclass(frozen=True)
class GuardPolicy:
    """The gateway's own host names and the extra origins it serves."""

    names: frozenset[str]
    any_address: bool  # every IP address counts as own (the gateway serves other machines)
    origins: frozenset[OriginKey]

    def host_is_own(self, host: str) -> bool:
        """Return whether a normalised host name (see split_host) is the gateway's."""
        return host in self.names or (self.any_address and _is_address(host))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _normal_host(host: str) -> Optional[str]:
    """Return host lower-cased, one trailing dot dropped, IPv6 compressed; None if malformed."""
    host = host.lower()
    if host.endswith('.'):
        host = host[:-1]
    if ':' in host:
        try:
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            return None
    return host if _NAME.fullmatch(host) else None


def split_host(value: Optional[str]) -> Optional[tuple[str, Optional[int]]]:
    """
    Split a Host header ('name', 'name:port', '[v6]:port') into (host, port); None if malformed.

    The host comes normalised: lower case, no trailing dot, IPv6 without brackets, compressed.
    """
    if not value or value != value.strip():
        return None
    if value.startswith('['):
        address, bracket, rest = value[1:].partition(']')
        if not bracket or ':' not in address or (rest and not rest.startswith(':')):
            return None
        port_text = rest[1:] if rest else None
    else:
        if value.count(':') > 1:
            return None  # an IPv6 address without brackets: where would its port be?
        address, colon, port_text = value.partition(':')
        port_text = port_text if colon else None
    host = _normal_host(address)
    if host is None:
        return None
    if port_text is None:
        return host, None
    if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
        return None
    return host, int(port_text)


def origin_key(origin: str) -> Optional[OriginKey]:
    """Return an origin's (scheme, host, port), default port filled in; None if not one."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or parts.path or parts.query or parts.fragment \
            or '@' in parts.netloc or origin != origin.strip() or not parts.hostname:
        return None
    split = split_host(parts.netloc)
    if split is None:
        return None
    return parts.scheme, split[0], DEFAULT_PORTS[parts.scheme] if port is None else port


def host_entry(entry: str) -> Optional[str]:
    """Return a host name or address (IPv6 with or without brackets) normalised; else None."""
    if ':' in entry and not entry.startswith('['):
        entry = f'[{entry}]'
    split = split_host(entry)
    return split[0] if split is not None and split[1] is None else None


def host_entry_problem(entry: str) -> Optional[str]:
    """Return why entry is no gateway_allowed_hosts entry (a host name or address), or None."""
    if host_entry(entry) is None:
        return (f"'{entry[:SHOWN]}' is not a host name or address without port, e.g. "
                f"'robot.lan' or '192.168.1.20'")
    return None


def origin_entry_problem(entry: str) -> Optional[str]:
    """Return why entry is no gateway_allowed_origins entry, or None."""
    if origin_key(entry) is None:
        return (f"'{entry[:SHOWN]}' is not an origin: scheme, host and optional port, no "
                f"path, e.g. 'http://localhost:3000' ('*' and 'null' are never allowed)")
    return None


def machine_names() -> tuple[str, ...]:
    """Return this machine's host names: `jetson`, its mDNS name `jetson.local`, a FQDN."""
    name = _normal_host(socket.gethostname())  # no DNS look-up: getfqdn() can hang
    if not name:
        return ()
    short = name.split('.')[0]
    return tuple(dict.fromkeys((name, short, short + '.local')))


def is_loopback(bound: str) -> bool:
    """Return whether the bound address serves this machine only."""
    if bound.lower() == 'localhost':
        return True
    try:
        return ipaddress.ip_address(bound.strip('[]')).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=8)
def guard_policy(bound: str, allowed_hosts: tuple[str, ...],
                 allowed_origins: tuple[str, ...],
                 machine: tuple[str, ...] = ()) -> GuardPolicy:
    """
    Return the policy of a gateway bound to `bound`, with the two parameters' lists.

    machine (this machine's names, see machine_names) counts only when the gateway serves
    other machines; entries that are not valid (settings validation refuses them) are
    skipped.
    """
    serves_others = not is_loopback(bound)
    candidates = [*LOOPBACK_NAMES, *allowed_hosts]
    if bound not in WILDCARD_ADDRESSES:
        candidates.append(bound)
    if serves_others:
        candidates.extend(machine)
    names = frozenset(filter(None, map(host_entry, candidates)))
    origins = frozenset(filter(None, map(origin_key, allowed_origins)))
    return GuardPolicy(names, serves_others, origins)


def host_refusal(host_header: Optional[str], policy: GuardPolicy) -> Optional[Refusal]:
    """Return the refusal of a request with this Host header, or None when it is own."""
    if not host_header:
        return Refusal(HOST_REFUSED, 'the request has no Host header; this gateway answers '
                                     'only requests that name it')
    split = split_host(host_header)
    if split is not None and policy.host_is_own(split[0]):
        return None
    return Refusal(HOST_REFUSED, (
        f"Host '{host_header[:SHOWN]}' is not a name of this gateway (a guard against DNS "
        f'rebinding); use its address or localhost, or add the name to '
        f'gateway_allowed_hosts'))


def origin_verdict(origin: Optional[str], host_header: str,
                   policy: GuardPolicy) -> Union[Refusal, Admission]:
    """
    Judge a request's Origin header: absent, the request's own origin, or a listed one.

    Own: `http://` + the request's Host, as browsers send it from a page the gateway served
    (the status page). Any other origin is refused unless listed in gateway_allowed_origins;
    a listed one is echoed in CORS headers.
    """
    if origin is None:
        return Admission()
    key = origin_key(origin)
    own = origin_key('http://' + host_header) if host_header else None
    if key is not None and key == own:
        return Admission()
    if key is not None and key in policy.origins:
        return Admission(cors_origin=origin)
    return Refusal(ORIGIN_REFUSED, (
        f"Origin '{origin[:SHOWN]}' may not use this gateway (no cross-site requests); a web "
        f'app served elsewhere needs its origin in gateway_allowed_origins'))


def content_type_refusal(content_type: Optional[str], has_body: bool) -> Optional[Refusal]:
    """Return the refusal of a request with a body that is not declared JSON, or None."""
    if not has_body:
        return None  # nothing to judge: e.g. GET, or DELETE /v1/responses/<id>
    media, *params = (content_type or '').split(';')
    charsets = [value.strip().strip('"').lower() for name, _, value in
                (param.partition('=') for param in params) if name.strip().lower() == 'charset']
    if media.strip().lower() == JSON_TYPE and all(c in ('utf-8', 'utf8') for c in charsets):
        return None
    given = f"'{content_type[:SHOWN]}'" if content_type else 'none'
    return Refusal(CONTENT_TYPE_REFUSED, (
        f"Content-Type {given} is not accepted: send the body as JSON with 'Content-Type: "
        f"application/json' (form and text bodies are refused)"))


def fetch_site_refusal(method: str, fetch_site: Optional[str], fetch_mode: Optional[str],
                       listed_origin: bool) -> Optional[Refusal]:
    """
    Return the refusal of a browser's request made for a page of another site, or None.

    Browsers say who asked in Sec-Fetch-Site. A cross-site `<img>` or `<script>` sends no
    Origin, so the Origin check alone would serve the camera's frame into any web page.
    Served: no header (not a browser, an old one, or a plain-http host that is not
    loopback: browsers send these headers to https and loopback hosts only),
    `same-origin` (the status page), `none` (typed in the address bar, a bookmark), a
    top-level GET navigation (a link: the user sees the answer, the linking page cannot
    read it), and a listed origin's CORS request. Refused: every other request of a page
    elsewhere, `same-site` ones included (another port of localhost is the same site).
    """
    site = (fetch_site or '').strip().lower()
    if site in ('', 'same-origin', 'none') or listed_origin:
        return None
    if (fetch_mode or '').strip().lower() == 'navigate' and method.upper() in ('GET', 'HEAD'):
        return None
    return Refusal(ORIGIN_REFUSED, (
        f'a page of another site may not use this gateway (Sec-Fetch-Site: '
        f"{fetch_site[:SHOWN] if fetch_site else ''}); a web app served elsewhere needs its "
        f'origin in gateway_allowed_origins and requests with CORS (fetch), not <img>'))


def screen(method: str, host: Optional[str], origin: Optional[str], content_type: Optional[str],
           has_body: bool, policy: GuardPolicy, fetch_site: Optional[str] = None,
           fetch_mode: Optional[str] = None) -> Union[Refusal, Admission]:
    """Apply the checks in order: Host, Origin, Sec-Fetch-Site, then the body's content type."""
    refusal = host_refusal(host, policy)
    if refusal is not None:
        return refusal
    verdict = origin_verdict(origin, host or '', policy)
    if isinstance(verdict, Refusal):
        return verdict
    refusal = fetch_site_refusal(method, fetch_site, fetch_mode, verdict.cors_origin is not None)
    if refusal is not None:
        return refusal
    if method.upper() == 'OPTIONS':
        return verdict  # a preflight has no body; the gateway answers it
    return content_type_refusal(content_type, has_body) or verdict


def preflight_headers(origin: str, requested_headers: Optional[str]) -> dict[str, str]:
    """Return the headers answering a CORS preflight of an allowed origin."""
    allowed = requested_headers if requested_headers and \
        _HEADER_LIST.fullmatch(requested_headers.strip()) else 'Authorization, Content-Type'
    return {**cors_headers(origin),
            'Access-Control-Allow-Methods': 'GET, HEAD, POST, OPTIONS',
            'Access-Control-Allow-Headers': allowed.strip(),
            'Access-Control-Max-Age': '600'}


def cors_headers(origin: str) -> dict[str, str]:
    """Return the CORS headers of an answer to a listed origin (never '*')."""
    return {'Access-Control-Allow-Origin': origin,
            'Access-Control-Expose-Headers': 'Retry-After'}

"""A softphone's SIP account on Asterisk (`callverify phone add`), made over
ARI's configuration push: `PUT /ari/asterisk/config/dynamic/res_pjsip/{auth,aor,
endpoint}/NUMBER`. sorcery.conf gives those pjsip types a writable wizard (the
Asterisk database), so no file on the Asterisk host is edited, the account
outlives a restart, and it works on any Asterisk ARI reaches (a container's too).

The endpoint, its aor and its auth are all named after the number: a
verification to it rings every contact registered to the aor (engine/routes.py).
The phone only receives calls: its context hangs up whatever it dials.

An aor is pushed once, before any device registers, and never updated: a push
writes the whole object back, and its contacts field then lists the devices
registered at that moment, which would stay on as permanent contacts.
"""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from ipaddress import ip_address

from engine.ari.rest import AriRest

CONFIG_CLASS = "res_pjsip"
# The transport phones register over; the sandbox's (asterisk/config/pjsip.conf).
TRANSPORT = "transport-udp"
DEFAULT_SIP_PORT = 5060
CONTEXT = "from-phone"
# Several devices may register for one number; a new one past the limit
# replaces the oldest.
MAX_CONTACTS = 5
PASSWORD_ALPHABET = string.ascii_letters + string.digits  # easy to type into a phone
PASSWORD_LENGTH = 20  # about 119 bits


@dataclass(frozen=True)
class Registrar:
    """Where phones register: the transport's address (or its external one)."""

    host: str
    port: int
    # The host is an address the transport binds itself: the phone's RTP binds there too.
    binds_media: bool

    @property
    def domain(self) -> str:
        return self.host if self.port == DEFAULT_SIP_PORT else f"{self._host}:{self.port}"

    @property
    def uri(self) -> str:
        return f"sip:{self._host}:{self.port}"

    @property
    def _host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


def registrar_of(transport: dict[str, str] | None, fallback_host: str) -> Registrar:
    """The registrar a transport's fields describe; without the transport (an
    Asterisk whose UDP transport has another name), `fallback_host`:5060."""
    if not transport:
        return Registrar(fallback_host, DEFAULT_SIP_PORT, False)
    host, port = split_host_port(transport.get("bind", ""))
    external = transport.get("external_signaling_address", "")
    if external:
        port = int(transport.get("external_signaling_port") or 0) or port
        return Registrar(external, port, False)
    if not host or _wildcard(host):
        return Registrar(fallback_host, port, False)
    return Registrar(host, port, True)


def split_host_port(bind: str) -> tuple[str, int]:
    """'127.0.0.1:5060' -> ('127.0.0.1', 5060); '[::1]:5060' -> ('::1', 5060)."""
    if bind.startswith("["):
        host, _, rest = bind[1:].partition("]")
        port = rest.removeprefix(":")
    elif bind.count(":") == 1:
        host, _, port = bind.partition(":")
    else:
        host, port = bind, ""
    return host, int(port) if port.isdigit() else DEFAULT_SIP_PORT


def _wildcard(host: str) -> bool:
    try:
        return ip_address(host).is_unspecified
    except ValueError:
        return False


def new_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def account_objects(number: str, password: str,
                    registrar: Registrar) -> list[tuple[str, dict[str, str]]]:
    """(type, fields) of the account's pjsip objects, in the order they are made."""
    endpoint = {
        "context": CONTEXT, "disallow": "all", "allow": "ulaw,alaw",
        "dtmf_mode": "rfc4733", "direct_media": "no",
        # Behind NAT (a phone on another network) answer and send where its packets come from.
        "rtp_symmetric": "yes", "force_rport": "yes", "rewrite_contact": "yes",
        "allow_subscribe": "no", "auth": number, "aors": number,
    }
    if registrar.binds_media:
        endpoint.update(media_address=registrar.host, bind_rtp_to_media_address="yes")
    return [
        ("auth", {"auth_type": "userpass", "username": number, "password": password}),
        ("aor", {"max_contacts": str(MAX_CONTACTS), "remove_existing": "yes"}),
        ("endpoint", endpoint),
    ]


class SoftphoneAccounts:
    """The softphones' SIP accounts on one Asterisk, through its ARI."""

    def __init__(self, rest: AriRest, fallback_host: str) -> None:
        """`fallback_host`: where phones register if the transport cannot be read (ARI's host)."""
        self.rest = rest
        self.fallback_host = fallback_host

    async def registrar(self) -> Registrar:
        transport = await self.rest.config_object(CONFIG_CLASS, "transport", TRANSPORT)
        return registrar_of(transport, self.fallback_host)

    async def exists(self, number: str) -> bool:
        return await self.rest.config_object(CONFIG_CLASS, "endpoint", number) is not None

    async def create(self, number: str) -> dict[str, str]:
        """Make the account; its fields for the phone (the password only here)."""
        registrar = await self.registrar()
        password = new_password()
        made: list[str] = []
        try:
            for object_type, fields in account_objects(number, password, registrar):
                await self.rest.put_config_object(CONFIG_CLASS, object_type, number, fields)
                made.append(object_type)
        except BaseException:
            for object_type in reversed(made):  # no half-made account is left behind
                await self.rest.delete_config_object(CONFIG_CLASS, object_type, number)
            raise
        return {"number": number, "username": number, "password": password,
                "domain": registrar.domain, "registrar": registrar.uri, "transport": "udp"}

    async def delete(self, number: str) -> bool:
        """Remove the account; False if Asterisk had none of it. Deleting the
        aor deletes the contacts registered to it too (res_pjsip_registrar)."""
        found = False
        for object_type in ("endpoint", "aor", "auth"):
            found = await self.rest.delete_config_object(CONFIG_CLASS, object_type, number) or found
        return found

    async def registered(self, number: str) -> bool:
        """Whether a device of the phone is registered (its endpoint is not offline)."""
        return await self.rest.endpoint_state("PJSIP", number) not in (None, "offline")

"""Softphones that register (`callverify phone add`), proven with a real one:
baresip registers with the printed fields, rings, answers, and keys the code
on its keypad; the callback and the webhook say what a site would see.
Calls to a number whose phone is not registered, or was removed, are checked
against a sipp phone on the trunk's port."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator

import aiohttp
import pytest

from api.service import Service
from engine.settings import sandbox_state
from engine.webhook_fields import PASSWORD_CALL_FIELDS
from tests.conftest import free_port
from tests.integration.api_harness import CALLVERIFY, callverify
from tests.integration.conftest import SANDBOX, Api
from tests.phones.softphone import Softphone

PASSWORD_CALL = "/api/protected/api/auth/passwordcall"
# 202 555 0141-0146, beside the sandbox's test numbers (0100-0108); each test
# that registers a device has its own, so a device left registered by one
# never rings in another.
RINGS, FORKS, PASSWORD, WRONG, ABSENT, REMOVED = (f"1202555014{n}" for n in range(1, 7))


@pytest.fixture
def phone_env(cli_env, sandbox) -> dict[str, str]:
    """The console script's environment, pointed at the sandbox's ARI."""
    return {**cli_env, "CALLVERIFY_ARI_URL": sandbox["ari_url"],
            "CALLVERIFY_ARI_USER": sandbox["ari_user"],
            "CALLVERIFY_ARI_PASSWORD": sandbox["ari_password"]}


def remove_phone(env: dict, number: str) -> int:
    """`callverify phone remove`: 0 removed, 2 there was none."""
    done = subprocess.run([str(CALLVERIFY), "phone", "remove", number], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode in (0, 2), done.stderr
    return done.returncode


@pytest.fixture
def add_phone(phone_env) -> Iterator[Callable[[str], dict]]:
    """`callverify phone add NUMBER` -> the fields it printed; removed after the test."""
    added: list[str] = []

    def add(number: str) -> dict:
        remove_phone(phone_env, number)  # an account an interrupted run left on Asterisk
        fields = json.loads(callverify(phone_env, "phone", "add", number))
        added.append(number)
        return fields

    yield add
    for number in added:
        remove_phone(phone_env, number)


def listed(env: dict) -> dict[str, bool | None]:
    return {p["number"]: p["registered"] for p in json.loads(callverify(env, "phone", "list"))}


async def reverse_verify(api, account, callbacks, e164: str, code: str = "1234") -> dict:
    """Ask for a reverse-verify call to `e164` (1 + 10 digits); the callback's query."""
    assert await api.reverse_verify(
        api_key=account.api_key, country_code="1", phone_number=e164[1:], code=code,
        callback_url=callbacks.url, secret="s3") == "0"
    return (await callbacks.next(timeout=40))["query"]


@pytest.fixture
async def password_call(service, api, callbacks):
    """An account with a password_call webhook: `await password_call(e164)` -> (answer, webhook)."""
    account = await service.store.accounts.create("mcn", 100000)
    await service.store.accounts.set_webhook(account.account_id, "password_call", callbacks.url,
                                             list(PASSWORD_CALL_FIELDS))

    async def call(e164: str) -> tuple[dict, dict]:
        async with aiohttp.ClientSession() as http:
            async with http.post(api.base + PASSWORD_CALL, headers={
                    "Authorization": f"Bearer {account.token}"}, json={
                    "phone_number": e164, "verification_code": "1234"}) as resp:
                assert resp.status == 200
                answer = await resp.json()
        received = await callbacks.next(timeout=40)
        return answer, json.loads(received["body"])

    return call


async def test_phone_add_prints_what_a_phone_needs(add_phone, sandbox):
    fields = add_phone(RINGS)
    assert set(fields) == {"number", "username", "password", "domain", "registrar", "transport"}
    assert fields["number"] == fields["username"] == RINGS
    assert fields["registrar"] == f"sip:127.0.0.1:{sandbox['sip_port']}"
    assert fields["domain"] == f"127.0.0.1:{sandbox['sip_port']}"
    assert fields["transport"] == "udp"
    assert len(fields["password"]) >= 20 and fields["password"].isalnum()
    assert add_phone(REMOVED)["password"] != fields["password"]


async def test_the_registered_phone_rings_answers_and_keys_the_code(
        service, api, account, callbacks, add_phone, phone_env):
    async with Softphone(add_phone(RINGS)) as phone:
        assert listed(phone_env)[RINGS] is True
        verifying = asyncio.create_task(reverse_verify(api, account, callbacks, RINGS))
        await phone.incoming_call()
        await phone.established()
        await phone.hearing()  # the enter-code prompt has started
        await phone.key("1234#")
        assert await verifying == {"phone_number": RINGS[1:], "country_code": "1", "secret": "s3",
                            "match": "1", "answered": "1", "reason": ""}
        await phone.closed()


async def test_every_registered_device_of_the_number_rings(service, api, account, callbacks,
                                                           add_phone):
    fields = add_phone(FORKS)
    async with Softphone(fields, answer=False) as desk, Softphone(fields) as mobile:
        verifying = asyncio.create_task(reverse_verify(api, account, callbacks, FORKS))
        assert await desk.incoming_call() == await mobile.incoming_call()
        await mobile.established()
        await mobile.hearing()
        await mobile.key("1234#")
        assert (await verifying)["match"] == "1"
        await desk.closed()  # the other device stopped ringing when one answered


async def test_a_password_call_shows_the_code_in_the_calling_number(
        service, password_call, add_phone, settings):
    async with Softphone(add_phone(PASSWORD)) as phone:
        calling = asyncio.create_task(password_call(PASSWORD))
        caller = await phone.incoming_call()
        answer, record = await calling
        assert caller == answer["caller_number"] == settings.cli_prefix + "1234"
        assert (record["phone_number"], record["q931_status"], record["final_status"]) == (
            PASSWORD, 16, "ANSWER")


async def test_a_wrong_password_is_refused(add_phone, phone_env):
    fields = add_phone(WRONG)
    phone = Softphone(fields, password=fields["password"][::-1]).start()
    try:
        assert await phone.register_refusal() in (401, 403)
    finally:
        phone.cleanup()
    assert listed(phone_env)[WRONG] is False


async def test_a_phone_not_registered_is_unreachable_and_the_trunk_never_rings(
        service, api, account, callbacks, password_call, add_phone, phone, phone_env):
    trunk = phone("answer_dtmf", keys="1234#")
    add_phone(ABSENT)
    assert listed(phone_env)[ABSENT] is False
    callback = await reverse_verify(api, account, callbacks, ABSENT)
    assert (callback["answered"], callback["match"], callback["reason"]) == ("0", "0", "3")
    _, record = await password_call(ABSENT)
    assert (record["q931_status"], record["final_status"]) == (20, "CANCEL")
    assert trunk.invites == []


async def test_a_removed_phone_number_goes_to_the_trunk_again(
        service, api, account, callbacks, add_phone, phone, phone_env):
    add_phone(REMOVED)
    assert REMOVED in listed(phone_env)
    assert json.loads(callverify(phone_env, "phone", "remove", REMOVED)) == {
        "number": REMOVED, "removed": True}
    assert REMOVED not in listed(phone_env)
    trunk = phone("answer_dtmf", keys="1234#")
    assert (await reverse_verify(api, account, callbacks, REMOVED))["match"] == "1"
    assert trunk.invites[0].request_user == REMOVED


@pytest.mark.parametrize("number", ["12x", "+0123", "123", "1234567890123456", ""])
async def test_a_bad_number_is_refused_by_name(phone_env, number):
    for action in ("add", "remove"):
        assert "not an E.164 number" in callverify(phone_env, "phone", action, number, expect=2)


async def test_a_number_with_a_phone_is_not_added_twice(add_phone, phone_env):
    first = add_phone(RINGS)
    assert "already has a softphone" in callverify(phone_env, "phone", "add", RINGS, expect=2)
    assert listed(phone_env) == {RINGS: False}
    assert "has no softphone" in callverify(phone_env, "phone", "remove", ABSENT, expect=2)
    del first


async def test_without_asterisk_phone_add_exits_1_and_list_cannot_say_registered(
        add_phone, phone_env):
    add_phone(RINGS)
    away = {**phone_env, "CALLVERIFY_ARI_URL": f"http://127.0.0.1:{free_port()}"}
    assert "ARI not reachable" in callverify(away, "phone", "add", WRONG, expect=1)
    assert listed(away) == {RINGS: None}


# CALLVERIFY_SIP_BIND: an instance of its own whose SIP and RTP listen on
# 127.0.0.2 (as on a LAN address), and a phone on 127.0.0.3 (another device).
BIND, DEVICE, LAN_INSTANCE, LAN = "127.0.0.2", "127.0.0.3", "softphone-lan", "12025550147"
LAN_RTP = ("24800", "24999")  # beside the test (15000-19999) and bench (25000-29999) ranges


@pytest.fixture(scope="module")
def lan_sandbox(sandbox):
    env = {**os.environ, "CALLVERIFY_SIP_BIND": BIND}
    subprocess.run([*SANDBOX, "start", "--instance", LAN_INSTANCE, "--trunk-uri",
                    sandbox["trunk_uri"], "--rtp-start", LAN_RTP[0], "--rtp-end", LAN_RTP[1],
                    *(arg for name in ("http", "sip", "ami")
                      for arg in (f"--{name}-port", str(free_port())))],
                   env=env, check=True, timeout=120)
    yield sandbox_state(LAN_INSTANCE)
    subprocess.run([*SANDBOX, "stop", "--instance", LAN_INSTANCE], timeout=60)


async def test_sip_bind_lets_a_phone_on_another_address_register_and_be_called(
        lan_sandbox, settings, callbacks, phone_env, add_phone):
    assert lan_sandbox["sip_bind"] == BIND
    lan = {"ari_url": lan_sandbox["ari_url"], "ari_user": lan_sandbox["ari_user"],
           "ari_password": lan_sandbox["ari_password"]}
    phone_env.update({f"CALLVERIFY_{name.upper()}": value for name, value in lan.items()})
    fields = add_phone(LAN)
    assert fields["registrar"] == f"sip:{BIND}:{lan_sandbox['sip_port']}"
    assert fields["domain"] == f"{BIND}:{lan_sandbox['sip_port']}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as loopback:
        loopback.bind(("127.0.0.1", lan_sandbox["sip_port"]))  # SIP is not on 127.0.0.1
    async with Service(settings.replace(**lan)) as service, \
            Softphone(fields, address=DEVICE) as device:
        account = await service.store.accounts.create("lan", 10)
        host, port = settings.listen_host_port
        api = Api(f"http://{host}:{port}")
        verifying = asyncio.create_task(reverse_verify(api, account, callbacks, LAN))
        await device.incoming_call()
        await device.established()
        assert await device.hearing() == BIND  # the prompt's RTP comes from the bind address
        await device.key("1234#")
        assert (await verifying)["match"] == "1"
        await device.closed()

"""callverify in containers: `make image`'s two images and the pod file, end to end.

The module builds the images (podman's layer cache makes a rebuild quick),
starts the pod with `podman kube play containers/callverify-pod.yaml` on its
own ports (ARI 8688, SIP 5660, Redis 6590, API 8690, trunk sip:127.0.0.1:5670),
creates an account with the `callverify` CLI inside the pod, places calls
through the pod's HTTP API, and takes the pod down with `podman kube down`,
whatever happened. Each kind of callee is one test calling `reverse_verify`.
"""
from __future__ import annotations

import json
import time

import aiohttp
import pytest

from tests.integration.conftest import CallbackSink, record_figure
from tests.integration.container_pod import (
    API_URL,
    BUILD_TIMEOUT,
    START_TIMEOUT,
    TRUNK_PORT,
    Pod,
    build_images,
)
from tests.phones.phone import SipPhone

SECRET = "PodSecret"
# The first test also builds the images (the first time: the base import, and
# the sandbox root if missing) and starts the pod: pyproject's 120 s per test
# would cut that short.
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT + START_TIMEOUT + 300)


@pytest.fixture(scope="module")
def pod():
    record_figure("container_build_s", build_images())
    started = time.monotonic()
    running = Pod()
    try:
        running.start()
        running.wait_ready()
        record_figure("container_pod_ready_s", time.monotonic() - started)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def account(pod) -> dict:
    """A new account, made by the CLI in the pod's service container."""
    return json.loads(pod.callverify("account", "create", "--name", "container-test",
                                     "--credits", "10"))


async def reverse_verify(pod: Pod, account: dict, callbacks: CallbackSink, national: str,
                         code: str = "1234") -> dict:
    """Ask the pod's API to call +1 `national` with `code`; the callback's query."""
    # The pod's Redis outlives a run: a number called within the flood window
    # before would be refused.
    pod.callverify("purge", f"1{national}")
    params = {"api_key": account["api_key"], "phone_number": national, "country_code": "1",
              "code": code, "callback_url": callbacks.url, "secret": SECRET}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{API_URL}/api/reverse_verify/", params=params) as response:
            assert response.status == 200
            assert await response.text() == "0"
    return (await callbacks.next(timeout=60))["query"]


def expected(national: str, match: str, answered: str, reason: str = "") -> dict:
    return {"phone_number": national, "country_code": "1", "secret": SECRET,
            "match": match, "answered": answered, "reason": reason}


async def test_reverse_verify_to_a_phone_on_the_pods_trunk(pod, account, callbacks):
    phone = SipPhone("answer_dtmf", keys="1234#", port=TRUNK_PORT).start()
    try:
        assert await reverse_verify(pod, account, callbacks, "5551230001") == \
            expected("5551230001", "1", "1")
        assert [invite.request_user for invite in phone.invites] == ["15551230001"]
    finally:
        phone.cleanup()


async def test_reverse_verify_to_test_number_2025550100_answered_by_the_pods_asterisk(
        pod, account, callbacks):
    """The image carries the test numbers: no phone, no trunk."""
    assert await reverse_verify(pod, account, callbacks, "2025550100") == \
        expected("2025550100", "1", "1")

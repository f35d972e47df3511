"""/metrics on its own listener, counting real calls (sipp phones through the
sandbox Asterisk); /livez and /readyz as ARI goes away and comes back (a TCP
relay in front of ARI), without an engine, without the trunk, without Redis;
and `callverify api --workers 2` answering one sum on one address."""
from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import subprocess
import time
import urllib.request

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.metrics_listener import serving_metrics
from api.service import Service
from engine.delivery_record import new_delivery
from engine.keys import DEAD, DUE, WAKE, delivery_key
from tests.conftest import free_port
from tests.integration.api_harness import CALLVERIFY, callverify, cli_environment
from tests.integration.tcp_proxy import TcpRelay
from tests.integration.test_api_cli import listeners, reverse_verify, start_api

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def scrape(settings) -> Samples:
    status, kind, text = await get(f"http://{settings.metrics_listen}/metrics")
    assert status == 200 and kind.startswith("text/plain")
    return parse(text)


async def readiness_becomes(base: str, wanted: tuple[int, str], within: float = 15) -> None:
    """Wait until GET /readyz answers `wanted` (status, body), polling."""
    deadline = time.monotonic() + within
    while (answer := (await get(base + "/readyz"))[::2]) != wanted:
        assert time.monotonic() < deadline, f"/readyz answered {answer}, not {wanted}"
        await asyncio.sleep(0.2)


def base_of(settings) -> str:
    return "http://{}:{}".format(*settings.listen_host_port)


def params(account, callbacks, number: str) -> dict:
    return {"api_key": account.api_key, "phone_number": number, "country_code": "1",
            "code": "1234", "callback_url": callbacks.url}


@pytest.mark.parametrize("scenario, keys, result", [("answer_dtmf", "1234#", "verified"),
                                                    ("busy", "", "busy")])
async def test_a_call_moves_the_verdict_counter_and_the_histograms(
        settings, service, account, api, callbacks, phone, scenario, keys, result):
    before = await scrape(settings)
    phone(scenario, keys=keys)
    assert await api.reverse_verify(**params(account, callbacks, "5551230301")) == "0"
    await callbacks.next(timeout=40)
    after = await scrape(settings)
    flow = {"flow": "reverse_verify"}

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **flow, **labels) - value(before, name, **flow, **labels)

    assert moved("callverify_verifications_total", result=result) == 1
    assert moved("callverify_requests_total", result="accepted") == 1
    assert moved("callverify_request_to_invite_seconds_count") == 1
    assert moved("callverify_digit_to_verdict_seconds_count") == (1 if keys else 0)
    assert value(after, "callverify_ari_connected") == 1
    assert value(after, "callverify_redis_up") == 1
    assert value(after, "callverify_engines_ready") == 1
    assert value(after, "callverify_queue_jobs", state="waiting") == 0
    assert "callverify_redis_roundtrip_seconds" in {name for name, _ in after}


async def test_metrics_are_not_served_on_the_public_listener(settings, service):
    status, _, _ = await get(base_of(settings) + "/metrics")
    assert status == 404
    assert (await get(base_of(settings) + "/livez"))[::2] == (200, "ok")
    samples = await scrape(settings)
    assert value(samples, "callverify_deliveries_due") == 0
    assert value(samples, "callverify_queue_oldest_job_age_seconds") == 0


async def test_the_oldest_waiting_job_and_the_queue_show_while_no_engine_takes_them(
        settings, callbacks):
    async with Service(settings, {"api"}) as svc:
        account = await svc.store.accounts.create("t", 5)
        async with aiohttp.ClientSession() as http:
            async with http.get(base_of(settings) + "/api/reverse_verify/",
                                params=params(account, callbacks, "5551230302")) as resp:
                assert await resp.text() == "0"
        samples = await scrape(settings)
    assert value(samples, "callverify_queue_jobs", state="waiting") == 1
    assert value(samples, "callverify_queue_oldest_job_age_seconds") > 0
    assert "callverify_ari_connected" not in {name for name, _ in samples}  # no engine here


async def test_a_taken_metrics_port_is_logged_and_the_service_runs(settings, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = settings.replace(metrics_listen=f"127.0.0.1:{port}")
        with caplog.at_level(logging.WARNING):
            async with Service(settings, {"api"}):
                assert (await get(base_of(settings) + "/healthz"))[::2] == (200, "ok")
    assert any("CALLVERIFY_METRICS_LISTEN=127.0.0.1:" in r.getMessage() for r in caplog.records)


async def test_metrics_off_listens_nowhere(redis):
    async with serving_metrics("off", redis) as runner:
        assert runner is None


@pytest.fixture
async def relay(sandbox):
    host, port = sandbox["ari_url"].removeprefix("http://").split(":")
    r = TcpRelay(free_port(), host, int(port))
    yield r
    await r.stop()


async def test_readyz_flips_to_503_when_ari_drops_and_back(settings, asterisk_clean, relay):
    settings = settings.replace(ari_url=f"http://127.0.0.1:{relay.listen_port}")
    await relay.start()
    async with Service(settings):
        await readiness_becomes(base_of(settings), (200, "ok"))
        await relay.stop()
        await readiness_becomes(base_of(settings), (503, "not ready: ari not connected\n"))
        assert value(await scrape(settings), "callverify_ari_connected") == 0
        assert (await get(base_of(settings) + "/livez"))[::2] == (200, "ok")
        await relay.start()
        await readiness_becomes(base_of(settings), (200, "ok"), within=30)
        assert value(await scrape(settings), "callverify_ari_connected") == 1


async def test_an_api_without_an_engine_reads_the_engines_heartbeat(settings, asterisk_clean):
    async with Service(settings, {"api"}):
        base = base_of(settings)
        assert (await get(base + "/readyz"))[::2] == (503, "not ready: ari not connected\n")
        async with Service(settings.replace(metrics_listen="off"), {"engine"}):
            await readiness_becomes(base, (200, "ok"))
        # A stopped engine withdraws its word at once.
        assert (await get(base + "/readyz"))[::2] == (503, "not ready: ari not connected\n")


async def test_readyz_names_a_missing_trunk_endpoint(settings, asterisk_clean):
    settings = settings.replace(trunk_endpoint="nosuchtrunk")
    async with Service(settings):
        await readiness_becomes(base_of(settings),
                                (503, "not ready: trunk endpoint nosuchtrunk not found\n"))


async def test_readyz_names_redis_and_metrics_still_answer_without_it(settings):
    settings = settings.replace(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    async with Service(settings, {"api"}):
        base = base_of(settings)
        assert (await get(base + "/readyz"))[::2] == (503, "not ready: redis not answering\n")
        assert (await get(base + "/livez"))[::2] == (200, "ok")
        samples = await scrape(settings)
    assert value(samples, "callverify_redis_up") == 0


def test_api_workers_answer_the_sum_of_their_counts_on_one_address(clean_redis, tmp_path):
    metrics_port = free_port()
    env = cli_environment(clean_redis, tmp_path, CALLVERIFY_API_LISTEN=f"127.0.0.1:{free_port()}",
                          CALLVERIFY_METRICS_LISTEN=f"127.0.0.1:{metrics_port}")
    proc, base = start_api(env, "--workers", "2")
    try:
        api_key = json.loads(callverify(env, "account", "create", "--name", "w",
                                        "--credits", "20"))["api_key"]
        # Each request on a new connection: the kernel spreads them over both workers.
        answers = [reverse_verify(base, api_key, f"55512304{n:02d}") for n in range(20)]
        assert answers == ["0"] * 20
        deadline = time.monotonic() + 10
        while listeners(metrics_port) < 2:
            assert time.monotonic() < deadline, "the workers do not both serve /metrics"
            time.sleep(0.1)
        for _ in range(8):  # whichever worker answers, the same sum
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
                samples = parse(resp.read().decode())
            assert value(samples, "callverify_requests_total", flow="reverse_verify",
                         result="accepted") == 20
            assert value(samples, "callverify_queue_jobs", state="waiting") == 20
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stdout.read()


def scraped(port: int, ready=lambda samples: True, within: float = 20) -> Samples:
    """/metrics of the process listening on `port`, once it answers and `ready` holds."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                samples = parse(resp.read().decode())
            if ready(samples):
                return samples
        except OSError:
            pass
        assert time.monotonic() < deadline, f"no /metrics as wanted on port {port}"
        time.sleep(0.2)


def test_engine_and_deliver_processes_each_serve_their_own(clean_redis, tmp_path, sandbox,
                                                           asterisk_clean):
    ports = {"engine": free_port(), "deliver": free_port()}
    running = []
    try:
        for command, port in ports.items():
            env = cli_environment(
                clean_redis, tmp_path, CALLVERIFY_METRICS_LISTEN=f"127.0.0.1:{port}",
                CALLVERIFY_ARI_URL=sandbox["ari_url"], CALLVERIFY_ARI_USER=sandbox["ari_user"],
                CALLVERIFY_ARI_PASSWORD=sandbox["ari_password"],
                CALLVERIFY_ARI_APP="cvtest-metrics", CALLVERIFY_CONSUMER_NAME="pytest-metrics")
            running.append(subprocess.Popen([str(CALLVERIFY), command], env=env, text=True,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        engine = scraped(ports["engine"],
                         lambda s: value(s, "callverify_engines_ready") == 1)
        deliver = scraped(ports["deliver"])
    finally:
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            assert proc.wait(20) == 0, proc.stdout.read()
    names = {name for name, _ in deliver}
    assert value(engine, "callverify_ari_connected") == 1
    assert value(engine, "callverify_calls_up") == 0
    assert "callverify_ari_connected" not in names  # the deliverer has no ARI
    given_up = ("callverify_deliveries_given_up_total",
                frozenset({"kind": "reverse_verify_callback"}.items()))
    assert deliver[given_up] == 0  # there before the first one
    assert "process_cpu_seconds_total" in names  # each process its own CPU


async def test_a_delivery_given_up_is_counted_and_the_dead_list_shows(settings, callbacks):
    settings = settings.replace(delivery_give_up_seconds=1, delivery_backoff_base=0.2,
                                delivery_backoff_max=0.2)
    callbacks.statuses = [500] * 50
    kind = {"kind": "reverse_verify_callback"}
    async with Service(settings, {"delivery"}) as svc:
        before = await scrape(settings)
        delivery = new_delivery("GET", callbacks.url, params={"match": "1"},
                                kind=kind["kind"])
        await svc.redis.hset(delivery_key(delivery["id"]), mapping=delivery["fields"])
        await svc.redis.zadd(DUE, {delivery["id"]: delivery["due"]})
        await svc.redis.rpush(WAKE, delivery["id"])
        deadline = time.monotonic() + 20
        while not await svc.redis.zcard(DEAD):
            assert time.monotonic() < deadline, "the delivery was never given up"
            await asyncio.sleep(0.1)
        after = await scrape(settings)
    assert (value(after, "callverify_deliveries_given_up_total", **kind)
            - value(before, "callverify_deliveries_given_up_total", **kind)) == 1
    assert (value(after, "callverify_delivery_attempts_failed_total", **kind)
            - value(before, "callverify_delivery_attempts_failed_total", **kind)) >= 2
    assert value(after, "callverify_deliveries_dead") == 1
    assert value(after, "callverify_deliveries_due") == 0

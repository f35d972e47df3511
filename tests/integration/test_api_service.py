"""The API as a service: health check, HTTPS, outages and what reaches the logs."""
from __future__ import annotations

import logging
import ssl
import subprocess

import aiohttp

from engine.verifications import Verifications
from tests.conftest import free_port
from tests.integration.test_api_return_codes import CODE, api, serve  # noqa: F401 (fixtures)


async def test_healthz_ok_when_redis_answers(api):
    assert await api.get("/healthz") == (200, "text/plain", "ok")


async def test_503_when_redis_is_unreachable(serve):
    down = await serve(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    status, content_type, _ = await down.get("/healthz")
    assert (status, content_type) == (503, "text/plain")
    status, content_type, body = await down.get(
        api_key="k", phone_number="5551234567", country_code="1", code=CODE,
        callback_url="http://site.example/cb")
    assert (status, content_type) == (503, "text/plain")
    assert "storage" in body


async def test_unexpected_error_is_503_and_logged_without_secrets(api, monkeypatch, caplog):
    _, api_key = await api.account()

    async def broken(self, key, e164, record, **kwargs):
        message = f"leaked {e164} {CODE} {api_key}"
        raise RuntimeError(message)  # the traceback shows this line, not the message

    monkeypatch.setattr(Verifications, "accept_by_api_key", broken)
    caplog.set_level(logging.INFO)
    status, content_type, body = await api.get(
        api_key=api_key, phone_number="5551234567", country_code="1", code=CODE,
        callback_url="http://site.example/cb")
    assert (status, content_type) == (503, "text/plain")
    assert "RuntimeError" in caplog.text and "***4567" in caplog.text
    for secret in (CODE, api_key, "5551234567", "leaked"):
        assert secret not in caplog.text + body


async def test_one_log_line_per_request_with_masked_number_and_result(api, caplog):
    _, api_key = await api.account()
    caplog.set_level(logging.INFO)
    assert await api.verify(api_key) == "0"
    assert await api.verify(api_key) == "6"
    lines = [r.getMessage() for r in caplog.records if r.name == "api.reverse_verify"]
    assert len(lines) == 2
    assert "number=***4567 result=0" in lines[0] and "number=***4567 result=6" in lines[1]
    assert CODE not in caplog.text and api_key not in caplog.text
    assert "5551234567" not in caplog.text


async def test_head_places_no_call(api):
    _, api_key = await api.account()
    url = f"{api.base_url}/api/reverse_verify/"
    params = {"api_key": api_key, "phone_number": "5551234567", "country_code": "1",
              "code": CODE, "callback_url": "http://site.example/cb"}
    async with api.http.head(url, params=params) as resp:
        assert resp.status == 405
    assert await api.queued() == 0


async def test_https_when_certificate_and_key_are_set(serve, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    secure = await serve(tls_cert=str(cert), tls_key=str(key))
    assert secure.base_url.startswith("https://")
    _, api_key = await secure.account()
    trust = ssl.create_default_context(cafile=str(cert))
    params = {"api_key": api_key, "phone_number": "5551234567", "country_code": "1",
              "code": CODE, "callback_url": "https://site.example/cb"}
    async with aiohttp.ClientSession() as http:
        async with http.get(secure.base_url + "/api/reverse_verify", params=params,
                            ssl=trust) as resp:
            assert (resp.status, resp.content_type, await resp.text()) == (200, "text/plain", "0")
    assert await secure.queued() == 1


async def test_the_server_header_names_no_versions(api):
    """aiohttp's default (`Python/3.11 aiohttp/3.x`) tells a scanner what to try."""
    for method, path in (("GET", "/healthz"), ("GET", "/api/reverse_verify/"),
                         ("GET", "/nowhere"), ("DELETE", "/healthz"),
                         ("POST", "/api/protected/api/auth/passwordcall")):
        async with api.http.request(method, api.base_url + path) as resp:
            assert resp.headers.get("Server") == "callverify", (method, path, resp.status)

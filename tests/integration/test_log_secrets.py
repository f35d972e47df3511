"""No key, token, code, secret or full number in any line a real
`callverify api` process logs, whatever clients send it."""
from __future__ import annotations

import json
import signal
import socket
import urllib.error
import urllib.parse
import urllib.request

from tests.integration.api_harness import callverify
from tests.integration.test_api_cli import cli_env, start_api  # noqa: F401 (fixture)

# Distinctive values: none of them may appear in the log.
KEY, TOKEN, SECRET = "Kq7ZzVbX31pw", "Tk8YyWcU42ox", "Sx9XxUdT53ny"
CODES = ("907312", "864219", "735108", "6193")
NUMBER = "2025550147"  # with its country code: 12025550147

RAW = [  # malformed requests aiohttp's parser refuses (it used to log them whole)
    f"GET /api/reverse_verify/?api_key={KEY}&code={CODES[0]}&phone_number={NUMBER} "
    "HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    f"GET /api/reverse_verify/?api_key={KEY}&code={CODES[1]} HTTP/9.9\r\nHost: x\r\n\r\n",
    f"GET /api/reverse_verify/?api_key={KEY}&code={CODES[2]}\x00 HTTP/1.1\r\n\r\n",
    f"POST /api/protected/api/auth/passwordcall HTTP/1.1\r\nHost: x\r\n"
    f"Authorization: Bearer {TOKEN}\r\nContent-Length: x{CODES[3]}\r\n\r\n",
    "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + "A" * 9000 + f"&api_key={KEY}\r\n\r\n",
]


def send_raw(base: str, request: str) -> bytes:
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request.encode("latin-1"))
        return conn.recv(200)


def fetch(base: str, path: str, *, data: bytes | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(base + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_nothing_secret_reaches_the_log(cli_env):
    new = json.loads(callverify(cli_env, "account", "create", "--name", "l", "--credits", "0"))
    paid: dict = {}
    proc, base = start_api(cli_env)
    try:
        for raw in RAW:
            assert send_raw(base, raw).startswith(b"HTTP/1.")
        for api_key in (KEY, new["api_key"]):  # unknown, then real (no credit: 2)
            query = urllib.parse.urlencode({
                "api_key": api_key, "phone_number": NUMBER, "country_code": "1",
                "code": CODES[0], "callback_url": f"https://h.example/cb?secret={SECRET}",
                "secret": SECRET})
            assert fetch(base, "/api/reverse_verify/?" + query) == 200
        for token in (TOKEN, new["token"]):  # unknown, then real (no balance: 402)
            body = json.dumps({"phone_number": "1" + NUMBER, "verification_code": CODES[3]})
            assert fetch(base, "/api/protected/api/auth/passwordcall", data=body.encode(),
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/json"}) in (401, 402)
        assert fetch(base, "/api/protected/api/auth/passwordcall", data=b'{"phone_number": "1'
                     + NUMBER.encode() + b'", "verification_code": ' + CODES[3].encode(),
                     headers={"Authorization": f"Bearer {new['token']}"}) == 400
        paid = json.loads(callverify(cli_env, "account", "create", "--name", "p", "--credits",
                                     "5"))
        for token, status in ((TOKEN, 401), (new["token"], 402), (paid["token"], 201)):
            body = json.dumps({"phone": "+1" + NUMBER, "channel": "keypad", "code": CODES[1],
                               "callback_url": f"https://h.example/cb?secret={SECRET}"})
            assert fetch(base, "/v1/verifications", data=body.encode(),
                         headers={"Authorization": f"Bearer {token}", "Idempotency-Key": SECRET,
                                  "Content-Type": "application/json"}) == status
        assert fetch(base, "/v1/verifications", data=b'{"code": "' + CODES[2].encode() + b'"}',
                     headers={"Authorization": f"Bearer {paid['token']}"}) == 400
        assert fetch(base, f"/v1/verifications?phone=%2B1{NUMBER}",
                     headers={"Authorization": f"Bearer {paid['token']}"}) == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    output = proc.stdout.read()
    assert "v1_create" in output and "v1_list" in output
    assert output.count("Error handling request from 127.0.0.1") == len(RAW), output
    assert "Traceback" not in output
    for secret in (KEY, TOKEN, SECRET, new["api_key"], new["token"], paid["token"], *CODES,
                   NUMBER):
        assert secret not in output, (secret, output)


def test_callverify_settings_masks_the_redis_password(cli_env):
    for url in ("redis://:Pw1secret@127.0.0.1:6379/0", "redis://cv:Pw1secret@127.0.0.1:6379/0",
                "rediss://127.0.0.1:6379/0?password=Pw1secret"):
        shown = callverify({**cli_env, "CALLVERIFY_REDIS_URL": url}, "settings")
        assert "Pw1secret" not in shown and "***" in shown and "127.0.0.1:6379" in shown

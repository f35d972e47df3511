"""The receiver examples of docs/security.md, "Signed callbacks and webhooks",
taken from the document itself and run as a customer would run them.

The PHP blocks become two scripts (the reverse verify callback, GET; the
password call webhook, POST) served by PHP's built-in server; the Python block's
aiohttp handlers are served by an aiohttp app in this process. Only two things
are changed in the docs' code: the account's real secret replaces `whsec_...`,
and where the docs leave the customer's own code (`...` in Python, the end of
each PHP script) the test records what the receiver accepted. A request the
docs' check refuses never gets that far: it is answered 401 by the docs' code.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
SECTION = "## Signed callbacks and webhooks"
SECRET_FORM = re.compile(r"whsec_[A-Za-z0-9+/]+=*")
PHP_DIAGNOSTIC = re.compile(r"PHP (?:Fatal error|Parse error|Warning|Notice|Deprecated):")

# Appended to each PHP script: the customer's own code would start here.
PHP_ACCEPTED = """
// The test's own: what this script accepted, one JSON line per request.
file_put_contents(dirname(__DIR__) . '/accepted.jsonl', json_encode([
    'target' => $_SERVER['REQUEST_URI'],
    'body' => file_get_contents('php://input'),
    'record' => $record ?? null,
    'headers' => [
        'webhook-id' => $_SERVER['HTTP_WEBHOOK_ID'],
        'webhook-timestamp' => $_SERVER['HTTP_WEBHOOK_TIMESTAMP'],
        'webhook-signature' => $_SERVER['HTTP_WEBHOOK_SIGNATURE'],
    ],
]) . "\\n", FILE_APPEND | LOCK_EX);
echo 'accepted';
"""
# In place of the Python handlers' `...`: the customer's own code would go there.
PYTHON_ACCEPTED = "    return accepted(request, locals())"
SIGNING_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass(frozen=True)
class DocExamples:
    python: str  # the aiohttp handlers
    php_check: str  # `<?php`, the secret and callverify_signed()
    php_webhook: str  # the POST script's check of its body
    php_callback: str  # the GET script's check of its request URI


def doc_examples(doc: Path = DOC) -> DocExamples:
    """The code blocks of the signing section; fails naming any that is missing."""
    text = doc.read_text()
    start = text.find(f"\n{SECTION}\n")
    if start < 0:
        pytest.fail(f"{doc}: no section {SECTION!r}")
    section = text[start + len(SECTION) + 2:]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)

    def block(language: str, marker: str) -> str:
        found = [code for lang, code in blocks if lang == language and marker in code]
        if len(found) != 1:
            pytest.fail(f"{doc}, {SECTION!r}: expected one ```{language} block containing "
                        f"{marker!r}, found {len(found)}")
        return found[0]

    return DocExamples(
        python=block("python", "async def reverse_verify_callback"),
        php_check=block("php", "function callverify_signed"),
        php_webhook=block("php", "php://input"),
        php_callback=block("php", "$_SERVER['REQUEST_URI']"))


def with_secret(code: str, placeholder: str, secret: str) -> str:
    """`code` with its one `whsec_...` literal replaced by the account's secret."""
    assert SECRET_FORM.fullmatch(secret)
    if code.count(placeholder) != 1:
        pytest.fail(f"{DOC}: expected the placeholder {placeholder} once in:\n{code}")
    return code.replace(placeholder, placeholder.replace("whsec_...", secret))


@dataclass
class Receiver:
    """A customer's site running the docs' check."""

    name: str
    base: str  # http://127.0.0.1:PORT
    callback_path: str
    webhook_path: str
    read_accepted: Callable[[], list[dict]]
    diagnostics: Callable[[], str]

    @property
    def callback_url(self) -> str:
        return self.base + self.callback_path

    @property
    def webhook_url(self) -> str:
        return self.base + self.webhook_path

    async def accepted(self, count: int, timeout: float = 10) -> list[dict]:
        """The first `count` requests it accepted: each one's request target,
        body, parsed JSON record (None for a callback) and signing headers."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(seen := self.read_accepted()) < count:
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"{self.name} receiver accepted {len(seen)} of {count} "
                            f"requests\n{self.diagnostics()}")
            await asyncio.sleep(0.05)
        return seen


async def _listening(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"php -S did not start:\n{log.read_text()}")
            await asyncio.sleep(0.05)
        else:
            writer.close()
            await writer.wait_closed()
            return


@contextlib.asynccontextmanager
async def php_receiver(secret: str, workdir: Path) -> AsyncIterator[Receiver]:
    """The docs' PHP as two scripts under `php -S`, stopped on exit."""
    php = shutil.which("php")
    if php is None:
        raise RuntimeError("php is not installed: run `make deps` (Debian package php-cli)")
    examples = doc_examples()
    check = with_secret(examples.php_check, "'whsec_...'", secret)
    docroot = workdir / "docroot"
    docroot.mkdir()
    accepted, log = workdir / "accepted.jsonl", workdir / "php-server.log"
    for script, tail in (("callback.php", examples.php_callback),
                         ("webhook.php", examples.php_webhook)):
        (docroot / script).write_text(f"{check}\n{tail}{PHP_ACCEPTED}")
        lint = subprocess.run([php, "-l", str(docroot / script)], capture_output=True, text=True)
        if lint.returncode != 0:
            pytest.fail(f"docs/security.md's PHP ({script}) does not parse:\n{lint.stdout}")
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [php, "-d", "error_reporting=-1", "-S", f"127.0.0.1:{port}", "-t", str(docroot)],
            stdout=output, stderr=subprocess.STDOUT)
    try:
        await _listening(port, process, log)

        def read_accepted() -> list[dict]:
            if not accepted.exists():
                return []
            return [json.loads(line) for line in accepted.read_text().splitlines()]

        yield Receiver("php", f"http://127.0.0.1:{port}", "/callback.php", "/webhook.php",
                       read_accepted, log.read_text)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Errors, warnings, notices and deprecations of the docs' code show here.
    assert not PHP_DIAGNOSTIC.search(log.read_text()), log.read_text()


def python_handlers(code: str, secret: str, seen: list[dict]) -> dict:
    """The docs' Python block run as a module, with the secret and a recorder."""
    code = with_secret(code, '"whsec_..."', secret)
    code, placeholders = re.subn(r"^    \.\.\.$", PYTHON_ACCEPTED, code, flags=re.MULTILINE)
    if placeholders != 2:
        pytest.fail(f"{DOC}: expected `...` ending each of the two Python handlers, "
                    f"found {placeholders}")

    def accepted(request: web.Request, handler_locals: dict) -> web.Response:
        body = handler_locals.get("body", b"")
        seen.append({"target": request.raw_path, "body": body.decode(),
                     "record": handler_locals.get("record"),
                     "headers": {name: request.headers[name] for name in SIGNING_HEADERS}})
        return web.Response(text="accepted")

    module: dict = {"__name__": "callverify_receiver_example", "accepted": accepted}
    exec(compile(code, f"{DOC} (Python receiver)", "exec"), module)
    return module


@contextlib.asynccontextmanager
async def python_receiver(secret: str, workdir: Path) -> AsyncIterator[Receiver]:
    """The docs' aiohttp handlers served in this process, stopped on exit."""
    seen: list[dict] = []
    handlers = python_handlers(doc_examples().python, secret, seen)
    app = web.Application()
    app.router.add_get("/callback", handlers["reverse_verify_callback"])
    app.router.add_post("/webhook", handlers["password_call_webhook"])
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield Receiver("python", f"http://127.0.0.1:{port}", "/callback", "/webhook",
                       lambda: list(seen), lambda: f"accepted so far: {seen}")
    finally:
        await runner.cleanup()

"""Readiness probes of a running instance: ARI answers, Asterisk is fully booted."""

from __future__ import annotations

import base64
import subprocess
import time
import urllib.error
import urllib.request

from .host import clean_env


def http_status(url: str, auth: tuple[str, str] | None = None, timeout: float = 2.0) -> int:
    """Status code of a GET, with Basic auth if given (0 if nothing answered)."""
    req = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(":".join(auth).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return 0


def ari_get(state: dict, path: str = "/ari/asterisk/info", timeout: float = 2.0) -> int:
    """Status code of an authenticated GET to ARI (0 if nothing answered)."""
    return http_status(state["ari_url"] + path, (state["ari_user"], state["ari_password"]),
                       timeout)


def fully_booted(state: dict, deadline: float) -> bool:
    """ARI answers before all modules are loaded: wait for the full boot."""
    try:
        res = subprocess.run(
            ["chroot", state["rootfs"], "/usr/sbin/asterisk", "-C", state["asterisk_conf"],
             "-rx", "core waitfullybooted"], capture_output=True, text=True, env=clean_env(),
            stdin=subprocess.DEVNULL, timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return res.returncode == 0 and "fully booted" in res.stdout

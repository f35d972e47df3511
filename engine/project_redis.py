"""The Redis `make run` starts for the project, found without configuration.

`make redis` (scripts/own-redis.sh) starts it with a generated password and
writes the URL with that password to REDIS_DIR/url (mode 0600). When
CALLVERIFY_REDIS_URL is not set, the settings take that URL (engine/settings.py),
so the service and the CLI reach it as root without the password typed
anywhere, as the sandbox's state file supplies the ARI credentials.
CALLVERIFY_REDIS_DIR moves the directory (tests).
"""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DIR = "/var/lib/callverify/redis"


def redis_dir() -> Path:
    return Path(os.environ.get("CALLVERIFY_REDIS_DIR", DEFAULT_DIR))


def url_file() -> Path:
    return redis_dir() / "url"


def project_redis_url() -> tuple[str | None, str | None]:
    """The project-owned Redis's URL, or None when `make run` never started
    one; and a warning when its file is there but cannot be read."""
    path = url_file()
    try:
        return path.read_text().strip() or None, None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, (f"{path} (the URL of make run's Redis) cannot be read "
                      f"({type(exc).__name__}): set CALLVERIFY_REDIS_URL, or run as its owner")

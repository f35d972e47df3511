"""Where the sandbox lives: the repository's templates and the cache on the host."""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(HERE, "config")
PROMPTS_DIR = os.path.join(HERE, "prompts")

DEFAULT_DIR = "/var/lib/callverify/sandbox"
MARKER = ".callverify-sandbox-complete"
INSTANCES_IN_ROOTFS = "/var/lib/callverify-instances"
MOD_DIR = "/usr/lib/x86_64-linux-gnu/asterisk/modules"


def sandbox_dir() -> str:
    return os.path.realpath(os.environ.get("CALLVERIFY_SANDBOX_DIR") or DEFAULT_DIR)


def rootfs_path() -> str:
    return os.path.join(sandbox_dir(), "rootfs")


def state_path(instance: str) -> str:
    return os.path.join(sandbox_dir(), "instances", instance, "state.json")


def instance_dir_in_rootfs(instance: str) -> str:
    """The instance directory as seen inside the chroot."""
    return f"{INSTANCES_IN_ROOTFS}/{instance}"


def instance_dir_on_host(instance: str) -> str:
    return rootfs_path() + instance_dir_in_rootfs(instance)

"""An instance's life: start it chrooted and wait until it is ready, report status, run CLI."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import subprocess
import time

from .configs import render_configs, templates_hash
from .host import SandboxError, check_instance_name, clean_env, locked, log, require_root, tail
from .layout import instance_dir_in_rootfs, instance_dir_on_host, rootfs_path, state_path
from .mounts import ensure_mounts
from .probes import ari_get, fully_booted
from .processes import children, pid_alive
from .prompts import install_prompts
from .rootfs import build, ensure_rootfs_files
from .shutdown import stop_locked
from .state import check_ports, load_state, save_state, wanted_settings

ARI_USER = "callverify"
AMI_USER = "callverify"
START_TIMEOUT = 30.0


def _healthy(state: dict | None) -> bool:
    if not state:
        return False
    return pid_alive(state.get("pid"), state.get("asterisk_conf")) and ari_get(state) == 200


def start(instance: str = "main", trunk_uri: str | None = None, http_port: int | None = None,
          sip_port: int | None = None, ami_port: int | None = None,
          rtp_start: int | None = None, rtp_end: int | None = None,
          timeout: float = START_TIMEOUT, sip_bind: str | None = None) -> dict:
    """Start (or keep) a chrooted Asterisk instance; return its state dict."""
    require_root()
    check_instance_name(instance)
    with locked():
        build()
        old = load_state(instance)
        wanted = wanted_settings(instance, old, {
            "trunk_uri": trunk_uri, "http_port": http_port, "sip_port": sip_port,
            "ami_port": ami_port, "rtp_start": rtp_start, "rtp_end": rtp_end,
            "sip_bind": sip_bind})
        wanted["config_hash"] = templates_hash()
        install_prompts()
        if old and _healthy(old) and all(old.get(k) == wanted[k] for k in wanted):
            return old
        if old and pid_alive(old.get("pid"), old.get("asterisk_conf")):
            log(f"{instance}: settings changed or not answering; restarting")
            stop_locked(instance, release=False)
        check_ports(instance, wanted)
        rootfs = rootfs_path()
        state = {
            "instance": instance,
            "ari_url": f"http://127.0.0.1:{wanted['http_port']}",
            "ari_user": ARI_USER,
            "ari_password": (old or {}).get("ari_password") or secrets.token_urlsafe(24),
            "ami_user": AMI_USER,
            "ami_password": (old or {}).get("ami_password") or secrets.token_urlsafe(24),
            **wanted,
            "pid": None,
            "rootfs": rootfs,
            "instance_dir": instance_dir_on_host(instance),
            "asterisk_conf": instance_dir_in_rootfs(instance) + "/etc/asterisk.conf",
            "log_file": instance_dir_on_host(instance) + "/log/asterisk.out",
            "started_at": None,
        }
        render_configs(instance, state)
        inst_host = instance_dir_on_host(instance)
        for stale in glob.glob(os.path.join(inst_host, "run", "*")):
            with contextlib.suppress(OSError):
                os.unlink(stale)
        ensure_rootfs_files(rootfs)
        ensure_mounts(rootfs)
        with open(state["log_file"], "ab") as out:
            out.write(f"--- start {time.strftime('%F %T')}\n".encode())
            out.flush()
            child = subprocess.Popen(
                ["chroot", rootfs, "/usr/sbin/asterisk", "-f", "-C", state["asterisk_conf"]],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd="/", env=clean_env())
        children[child.pid] = child
        state["pid"] = child.pid
        state["started_at"] = time.strftime("%FT%TZ", time.gmtime())
        save_state(instance, state)
        deadline = time.monotonic() + timeout
        code = 0
        while time.monotonic() < deadline:
            if not pid_alive(child.pid):
                break
            code = ari_get(state, timeout=1.0)
            if code == 200 and fully_booted(state, deadline) \
                    and ari_get(state, "/ari/endpoints/PJSIP/trunk") == 200:
                return state
            time.sleep(0.1)
        why = ("Asterisk exited" if not pid_alive(child.pid)
               else f"ARI did not answer 200 within {timeout:.0f} s (last status {code or 'none'})")
        stop_locked(instance)
        raise SandboxError(
            f"{instance}: {why}.\n--- {state['log_file']}\n{tail(state['log_file'])}\n"
            f"--- messages.log\n{tail(os.path.join(inst_host, 'log', 'messages.log'))}")


def status(instance: str = "main") -> dict:
    """{'instance', 'running', 'pid', 'ari_url', 'state'} without secrets."""
    check_instance_name(instance)
    state = load_state(instance) or {}
    alive = bool(state) and pid_alive(state.get("pid"), state.get("asterisk_conf"))
    answering = alive and ari_get(state) == 200
    return {"instance": instance, "running": bool(answering),
            "process_alive": bool(alive), "pid": state.get("pid") if alive else None,
            "ari_url": state.get("ari_url"),
            "state_file": state_path(instance) if state else None}


def cli(instance: str, command: str) -> subprocess.CompletedProcess:
    """Run `asterisk -rx COMMAND` against a running instance."""
    state = load_state(instance)
    if not state:
        raise SandboxError(f"instance {instance!r} was never started")
    return subprocess.run(["chroot", state["rootfs"], "/usr/sbin/asterisk", "-C",
                           state["asterisk_conf"], "-rx", command],
                          capture_output=True, text=True, env=clean_env(), timeout=30)

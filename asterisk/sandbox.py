#!/usr/bin/env python3
"""Asterisk sandbox provisioner for callverify (stdlib only, needs root).

Builds a minimal Debian unstable root file system with debootstrap, installs
Debian's ``asterisk`` package and its English sounds into it, caches it outside
the repository, and runs one or more chrooted Asterisk instances from it, each
with its own configuration rendered from ``asterisk/config/*.conf``.

Command line::

    python3 asterisk/sandbox.py build [--force]
    python3 asterisk/sandbox.py start [--instance NAME] [--trunk-uri URI] [--sip-bind ADDR]
        [--http-port N] [--sip-port N] [--ami-port N] [--rtp-start N] [--rtp-end N]
    python3 asterisk/sandbox.py stop [--instance NAME]
    python3 asterisk/sandbox.py status [--instance NAME]     (exit 0 running, 3 not)
    python3 asterisk/sandbox.py cli [--instance NAME] COMMAND...   (asterisk -rx)
    python3 asterisk/sandbox.py destroy

From Python (tests)::

    import sandbox
    sandbox.build()                       # -> rootfs path
    state = sandbox.start("test")         # -> dict, see state file keys below
    sandbox.status("test")                # -> dict with "running"
    sandbox.load_state("test")            # -> dict or None
    sandbox.install_prompts()             # asterisk/prompts -> rootfs sounds
    sandbox.stop("test")

Cache: ``$CALLVERIFY_SANDBOX_DIR`` (default ``/var/lib/callverify/sandbox``)
holding ``rootfs/`` and ``instances/<NAME>/state.json`` (mode 0600) with keys
instance, ari_url, ari_user, ari_password, ami_user, ami_password, http_port,
sip_port, ami_port, rtp_start, rtp_end, trunk_uri, sip_bind, pid, rootfs, instance_dir,
asterisk_conf, log_file, started_at, config_hash.

This file is the entry point (command line and public API); the parts live in
``sandboxlib/`` next to it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:        # imported from elsewhere (e.g. as asterisk.sandbox)
    sys.path.insert(0, HERE)

from sandboxlib.configs import render_configs, render_template, templates_hash  # noqa: E402
from sandboxlib.host import SandboxError  # noqa: E402
from sandboxlib.instance import AMI_USER, ARI_USER, START_TIMEOUT, cli, start, status  # noqa: E402
from sandboxlib.layout import (  # noqa: E402
    CONFIG_DIR,
    DEFAULT_DIR,
    INSTANCES_IN_ROOTFS,
    MARKER,
    MOD_DIR,
    PROMPTS_DIR,
    instance_dir_in_rootfs,
    instance_dir_on_host,
    rootfs_path,
    sandbox_dir,
    state_path,
)
from sandboxlib.processes import STOP_GRACE  # noqa: E402
from sandboxlib.prompts import install_prompts  # noqa: E402
from sandboxlib.rootfs import OPTIONAL_PACKAGES, PACKAGES, SUITE, build, destroy, is_built  # noqa: E402
from sandboxlib.shutdown import stop  # noqa: E402
from sandboxlib.state import DEFAULT_TRUNK_URI, INSTANCE_DEFAULTS, PORT_KEYS, load_state  # noqa: E402

__all__ = [
    "SandboxError", "build", "is_built", "destroy", "start", "stop", "status", "cli",
    "load_state", "install_prompts", "render_configs", "render_template", "templates_hash",
    "sandbox_dir", "rootfs_path", "state_path", "instance_dir_in_rootfs",
    "instance_dir_on_host", "main", "CONFIG_DIR", "PROMPTS_DIR", "DEFAULT_DIR",
    "DEFAULT_TRUNK_URI", "SUITE", "MARKER", "INSTANCES_IN_ROOTFS", "MOD_DIR", "PACKAGES",
    "OPTIONAL_PACKAGES", "ARI_USER", "AMI_USER", "START_TIMEOUT", "STOP_GRACE",
    "INSTANCE_DEFAULTS", "PORT_KEYS",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sandbox.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build or reuse the cached rootfs")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    s = sub.add_parser("start", help="start an instance (builds first if needed)")
    s.add_argument("--instance", default="main")
    s.add_argument("--trunk-uri")
    s.add_argument("--sip-bind", help="address SIP and the softphones' RTP listen on "
                   "(default: CALLVERIFY_SIP_BIND, else 127.0.0.1)")
    for opt in ("--http-port", "--sip-port", "--ami-port", "--rtp-start", "--rtp-end"):
        s.add_argument(opt, type=int)
    s.add_argument("--timeout", type=float, default=START_TIMEOUT)
    for name, text in (("stop", "stop an instance"), ("status", "running/stopped; exit 0/3")):
        x = sub.add_parser(name, help=text)
        x.add_argument("--instance", default="main")
    c = sub.add_parser("cli", help="run an Asterisk CLI command (asterisk -rx)")
    c.add_argument("--instance", default="main")
    c.add_argument("command", nargs="+")
    sub.add_parser("destroy", help="stop all instances and remove the cache")
    args = p.parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, on_term)
    try:
        if args.cmd == "build":
            path = build(force=args.force)
            print(f"rootfs ready: {path}")
        elif args.cmd == "start":
            st = start(args.instance, trunk_uri=args.trunk_uri, http_port=args.http_port,
                       sip_port=args.sip_port, ami_port=args.ami_port,
                       rtp_start=args.rtp_start, rtp_end=args.rtp_end, timeout=args.timeout,
                       sip_bind=args.sip_bind)
            print(f"{args.instance}: running pid {st['pid']}, ARI {st['ari_url']} "
                  f"(user {st['ari_user']}), SIP udp {st['sip_bind']}:{st['sip_port']} -> trunk "
                  f"{st['trunk_uri']}, AMI 127.0.0.1:{st['ami_port']}, RTP "
                  f"{st['rtp_start']}-{st['rtp_end']}; state {state_path(args.instance)}")
        elif args.cmd == "stop":
            ran = stop(args.instance)
            print(f"{args.instance}: stopped" + ("" if ran else " (was not running)"))
        elif args.cmd == "status":
            st = status(args.instance)
            if st["running"]:
                print(f"{args.instance}: running pid {st['pid']} ARI {st['ari_url']}")
                return 0
            extra = " (process alive, ARI not answering)" if st["process_alive"] else ""
            print(f"{args.instance}: stopped{extra}"
                  + (f" ARI {st['ari_url']}" if st["ari_url"] else ""))
            return 3
        elif args.cmd == "cli":
            res = cli(args.instance, " ".join(args.command))
            sys.stdout.write(res.stdout)
            sys.stderr.write(res.stderr)
            return res.returncode
        elif args.cmd == "destroy":
            destroy()
            print("sandbox destroyed")
    except SandboxError as e:
        print(f"sandbox: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sandbox: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

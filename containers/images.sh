#!/bin/bash
# Build callverify's two OCI images with podman (`make image`, the container test):
#   localhost/callverify-asterisk  Asterisk 22 with callverify's configs and prompts
#   localhost/callverify           the service (and redis-server for the pod)
# from containers/*.Containerfile, FROM debian:sid. Where no registry is
# reachable, debian:sid is imported once from the Asterisk sandbox's debootstrap
# root (asterisk/sandbox.py build makes it if missing), and again when that root
# is rebuilt. Builds use podman's layer cache: an unchanged image rebuilds in seconds.
#
#   containers/images.sh            base (if needed), then both images
#   containers/images.sh base       only the base
#
# Environment: CONTAINERS_CONF (default containers/containers.conf),
# PODMAN (default podman), PYTHON (default python3, runs asterisk/sandbox.py).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
# absolute: podman's build helpers run in other directories
CONTAINERS_CONF="$(realpath "${CONTAINERS_CONF:-$HERE/containers.conf}")"
export CONTAINERS_CONF
PODMAN="${PODMAN:-podman}"
PYTHON="${PYTHON:-python3}"
BASE="localhost/debian:sid"
SANDBOX_DIR="${CALLVERIFY_SANDBOX_DIR:-/var/lib/callverify/sandbox}"
ROOTFS="$SANDBOX_DIR/rootfs"
MARKER="$ROOTFS/.callverify-sandbox-complete"

say() { echo "images: $*" >&2; }

# The sandbox root's build stamp, kept as a label of the imported base so a
# rebuilt root is imported again.
rootfs_stamp() {
    sed -n 's/.*"built_at": *"\([^"]*\)".*/\1/p' "$MARKER"
}

import_base() {
    local have=""
    if "$PODMAN" image exists debian:sid; then
        have="$("$PODMAN" image inspect --format \
            '{{ index .Labels "io.callverify.rootfs-built-at" }}' debian:sid)"
        case "$have" in
            ''|'<no value>') return 0 ;;  # a debian:sid of another origin (a registry's): keep it
        esac
    fi
    if [ ! -f "$MARKER" ]; then
        say "no sandbox root at $ROOTFS: building it (asterisk/sandbox.py build)"
        "$PYTHON" "$ROOT/asterisk/sandbox.py" build
    fi
    local stamp
    stamp="$(rootfs_stamp)"
    if [ "$have" = "$stamp" ]; then
        return 0
    fi
    say "importing $ROOTFS as $BASE (rootfs built $stamp)"
    # The root is shared and in use: only read it. Left out: the running
    # instances' own directories (their configs hold passwords), the kernel's
    # and runtime's mount points' contents, the host's resolv.conf, the prompts
    # the last sandbox start copied in (the Asterisk image installs the repo's),
    # and the build marker.
    local status=0
    tar --one-file-system --numeric-owner --xattrs -C "$ROOTFS" -cf - \
        --exclude=./var/lib/callverify-instances \
        --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' \
        --exclude='./run/*' --exclude='./tmp/*' --exclude=./etc/resolv.conf \
        --exclude='./usr/share/asterisk/sounds/*/callverify' \
        --exclude=./.callverify-sandbox-complete \
        --warning=no-file-changed --warning=no-file-removed . \
      | "$PODMAN" import -q \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL io.callverify.rootfs-built-at=$stamp" \
        --message "callverify: the Asterisk sandbox's Debian unstable root" \
        - "$BASE" >/dev/null || status=$?
    # tar's 1 is "a file changed while read": the root is in use, and what changed
    # (logs, the instances' state) is left out above. The label tells success.
    have="$("$PODMAN" image inspect --format \
        '{{ index .Labels "io.callverify.rootfs-built-at" }}' "$BASE" 2>/dev/null || true)"
    if [ "$have" != "$stamp" ]; then
        say "podman import of $ROOTFS failed (status $status)"
        return 1
    fi
}

# The CA bundle the host's pip trusts (PIP_CERT, else SSL_CERT_FILE), for a
# network behind a TLS-intercepting proxy: a build secret, not kept in an image.
pip_ca=()
for ca in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}"; do
    if [ -n "$ca" ] && [ -s "$ca" ]; then
        pip_ca=(--secret "id=pip-ca,src=$ca")
        break
    fi
done

build() {   # build NAME CONTAINERFILE
    local before after
    before="$("$PODMAN" image inspect --format '{{.Id}}' "localhost/$1:latest" 2>/dev/null || true)"
    say "building localhost/$1"
    "$PODMAN" build --pull=never --layers -q "${pip_ca[@]}" -f "$ROOT/containers/$2" \
        -t "localhost/$1:latest" "$ROOT" >/dev/null
    after="$("$PODMAN" image inspect --format '{{.Id}}' "localhost/$1:latest")"
    # the image this build replaced, now untagged (kept if a container uses it)
    if [ -n "$before" ] && [ "$before" != "$after" ]; then
        "$PODMAN" rmi "$before" >/dev/null 2>&1 || true
    fi
}

import_base
if [ "${1:-}" = "base" ]; then
    exit 0
fi
build callverify-asterisk asterisk.Containerfile
build callverify callverify.Containerfile

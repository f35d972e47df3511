#!/bin/sh
# The pod's Redis (containers/callverify-pod.yaml): Debian's redis-server on
# 127.0.0.1:REDIS_PORT with the password in REDIS_PASSWORD_FILE, AOF on
# (appendfsync everysec, as `make redis`) in REDIS_DIR. The password reaches
# redis-server on its standard input, never on its command line.
set -eu
: "${REDIS_PORT:=6379}"
: "${REDIS_DIR:=/var/lib/callverify/redis}"
: "${REDIS_PASSWORD_FILE:=/run/callverify-pod/redis-password}"
[ -r "$REDIS_PASSWORD_FILE" ] || { echo "callverify-redis: REDIS_PASSWORD_FILE=$REDIS_PASSWORD_FILE: cannot be read" >&2; exit 2; }
mkdir -p "$REDIS_DIR"
exec redis-server - --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
    --dir "$REDIS_DIR" --appendonly yes --appendfsync everysec --save "" <<CONF
requirepass $(cat "$REDIS_PASSWORD_FILE")
CONF

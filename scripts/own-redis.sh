#!/usr/bin/env bash
# `make redis`: the Redis `make run` uses.
#
# CALLVERIFY_REDIS_URL set: that Redis, as it is (the service warns at start
# if it keeps no data on disk). Otherwise the project-owned redis-server on
# 127.0.0.1:$REDIS_PORT with its data in $REDIS_DIR: AOF on (appendfsync
# $REDIS_APPENDFSYNC, everysec unless set; a running one takes it at once) and
# a password generated once. The password is never on a command line: it is in
# $REDIS_DIR/redis.conf (requirepass) and in $REDIS_DIR/url (the URL callverify
# reads when CALLVERIFY_REDIS_URL is not set: engine/project_redis.py), both
# readable by their owner only.
set -euo pipefail
REDIS_DIR=${REDIS_DIR:-/var/lib/callverify/redis}
REDIS_PORT=${REDIS_PORT:-6390}
REDIS_APPENDFSYNC=${REDIS_APPENDFSYNC:-everysec}
case "$REDIS_APPENDFSYNC" in
  always|everysec|no) ;;
  *) echo "redis: REDIS_APPENDFSYNC must be always, everysec or no: $REDIS_APPENDFSYNC" >&2
     exit 1 ;;
esac

if [ -n "${CALLVERIFY_REDIS_URL:-}" ]; then
  echo "redis: using CALLVERIFY_REDIS_URL as it is"
  exit 0
fi

umask 077
mkdir -p "$REDIS_DIR"
if [ ! -s "$REDIS_DIR/password" ]; then
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$REDIS_DIR/password"
fi
password=$(cat "$REDIS_DIR/password")
export REDISCLI_AUTH=$password  # how redis-cli takes a password off the command line

# PONG alone: a Redis without that password answers PONG too, after "AUTH failed".
answers() { [ "$(redis-cli -p "$REDIS_PORT" ping 2>&1)" = PONG ]; }
unauthenticated() { env -u REDISCLI_AUTH redis-cli -p "$REDIS_PORT" "$@" 2>/dev/null; }

if answers; then
  redis-cli -p "$REDIS_PORT" config set appendfsync "$REDIS_APPENDFSYNC" >/dev/null
  echo "redis: project-owned redis-server already running on 127.0.0.1:$REDIS_PORT" \
       "(appendfsync $REDIS_APPENDFSYNC)"
elif (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then
  # Taken. Ours from before passwords (same data directory) is restarted with one.
  dir=$(unauthenticated config get dir | sed -n 2p)
  if [ -n "$dir" ] && [ "$(realpath "$dir")" = "$(realpath "$REDIS_DIR")" ]; then
    echo "redis: restarting the project-owned redis-server with a password"
    unauthenticated shutdown >/dev/null || true
    for _ in $(seq 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null || break
      sleep 0.1
    done
  else
    echo "redis: 127.0.0.1:$REDIS_PORT is taken by a Redis that make run did not start;" \
         "stop it, or use it as it is: CALLVERIFY_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" >&2
    exit 1
  fi
fi

if ! answers; then
  printf '%s\n' "bind 127.0.0.1" "port $REDIS_PORT" "dir $REDIS_DIR" \
    "appendonly yes" "appendfsync $REDIS_APPENDFSYNC" "daemonize yes" \
    "pidfile $REDIS_DIR/redis.pid" "logfile $REDIS_DIR/redis.log" \
    "requirepass $password" > "$REDIS_DIR/redis.conf"
  redis-server "$REDIS_DIR/redis.conf"
  for _ in $(seq 50); do answers && break; sleep 0.1; done
  answers || { echo "redis: redis-server did not start (see $REDIS_DIR/redis.log)" >&2; exit 1; }
  echo "redis: started project-owned redis-server on 127.0.0.1:$REDIS_PORT" \
       "(data in $REDIS_DIR, appendfsync $REDIS_APPENDFSYNC)"
fi
printf 'redis://:%s@127.0.0.1:%s/0\n' "$password" "$REDIS_PORT" > "$REDIS_DIR/url"

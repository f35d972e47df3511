#!/bin/sh
# The pod's init container (containers/callverify-pod.yaml): make the pod's
# passwords, once per pod, into the pod's own volume DIR (default
# /run/callverify-pod), which only its containers mount:
#   ari-password     Asterisk's ARI user (ASTERISK_ARI_PASSWORD_FILE)
#   redis-password   the pod's Redis (callverify-redis)
#   callverify.toml  the service's CALLVERIFY_CONFIG: ari_password, redis_url
# Files are kept while the pod lives, so its containers agree across restarts.
# REDIS_PORT (default 6379) is the Redis port the URL names.
set -eu
dir="${1:-/run/callverify-pod}"
port="${REDIS_PORT:-6379}"
case "$port" in ''|*[!0-9]*) echo "callverify-pod-secrets: REDIS_PORT=$port: must be a port number" >&2; exit 2 ;; esac

token() {
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

mkdir -p "$dir"
# Readable by the pod's containers, which run as different users; the volume
# is the pod's alone (as a Kubernetes Secret volume's files are 0644).
umask 022
[ -s "$dir/ari-password" ] || token > "$dir/ari-password"
[ -s "$dir/redis-password" ] || token > "$dir/redis-password"
if [ ! -s "$dir/callverify.toml" ]; then
    printf 'ari_password = "%s"\nredis_url = "redis://:%s@127.0.0.1:%s/0"\n' \
        "$(cat "$dir/ari-password")" "$(cat "$dir/redis-password")" "$port" \
        > "$dir/callverify.toml.new"
    mv "$dir/callverify.toml.new" "$dir/callverify.toml"
fi
echo "callverify-pod-secrets: passwords ready in $dir"

#!/bin/sh
# The callverify-asterisk image's entry point: render callverify's Asterisk
# configuration (asterisk/config/*.conf, copied into the image) for this
# container, then run Asterisk in the foreground.
#
# Every {{name}} placeholder of the templates takes the environment variable
# ASTERISK_<NAME> (upper case), so a placeholder added to asterisk/config is set
# the same way. Defaults: HTTP/ARI 8088, SIP 5060 (UDP), AMI 5038, RTP
# 10000-14999, SIP bound to 127.0.0.1, trunk sip:127.0.0.1:5070, ARI and AMI
# user callverify.
# The ARI password is required: ASTERISK_ARI_PASSWORD, or a file named by
# ASTERISK_ARI_PASSWORD_FILE (a mounted secret); none is baked into the image.
# The AMI password is made afresh at each start unless given (nothing in
# callverify uses AMI). A bad or missing value exits 2 naming the variable.
#
#   callverify-asterisk [ASTERISK_ARGS...]   render, then asterisk -f
#   callverify-asterisk render               render only (ASTERISK_TEMPLATES
#                                            names the templates; the tests)
set -eu

TEMPLATES="${ASTERISK_TEMPLATES:-/usr/share/callverify/asterisk/config}"

fail() {
    echo "callverify-asterisk: $*" >&2
    exit 2
}

random_token() {
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

if [ -z "${ASTERISK_ARI_PASSWORD:-}" ] && [ -n "${ASTERISK_ARI_PASSWORD_FILE:-}" ]; then
    [ -r "$ASTERISK_ARI_PASSWORD_FILE" ] \
        || fail "ASTERISK_ARI_PASSWORD_FILE=$ASTERISK_ARI_PASSWORD_FILE: cannot be read"
    ASTERISK_ARI_PASSWORD="$(cat "$ASTERISK_ARI_PASSWORD_FILE")"
fi
[ -n "${ASTERISK_ARI_PASSWORD:-}" ] \
    || fail "ASTERISK_ARI_PASSWORD (or ASTERISK_ARI_PASSWORD_FILE) must be set: the password callverify uses for ARI"

: "${ASTERISK_INSTANCE:=container}"
: "${ASTERISK_INST_DIR:=/var/lib/callverify-asterisk}"
: "${ASTERISK_HTTP_PORT:=8088}"
: "${ASTERISK_SIP_PORT:=5060}"
: "${ASTERISK_AMI_PORT:=5038}"
: "${ASTERISK_RTP_START:=10000}"
: "${ASTERISK_RTP_END:=14999}"
: "${ASTERISK_TRUNK_URI:=sip:127.0.0.1:5070}"
: "${ASTERISK_SIP_BIND:=127.0.0.1}"
: "${ASTERISK_ARI_USER:=callverify}"
: "${ASTERISK_AMI_USER:=callverify}"
: "${ASTERISK_AMI_PASSWORD:=$(random_token)}"

for name in HTTP_PORT SIP_PORT AMI_PORT RTP_START RTP_END; do
    eval "value=\$ASTERISK_$name"
    case "$value" in
        ''|*[!0-9]*) fail "ASTERISK_$name=$value: must be a port number (1-65535)" ;;
    esac
    [ "$value" -ge 1 ] && [ "$value" -le 65535 ] \
        || fail "ASTERISK_$name=$value: must be a port number (1-65535)"
done
[ "$ASTERISK_RTP_START" -lt "$ASTERISK_RTP_END" ] \
    || fail "ASTERISK_RTP_START=$ASTERISK_RTP_START: must be below ASTERISK_RTP_END=$ASTERISK_RTP_END"
case "$ASTERISK_TRUNK_URI" in
    sip:?*|sips:?*) ;;
    *) fail "ASTERISK_TRUNK_URI=$ASTERISK_TRUNK_URI: must be a SIP URI (e.g. sip:127.0.0.1:5070)" ;;
esac

# The trunk's host, and host:port, as the sandbox derives them
# (asterisk/sandboxlib/configs.py): the identify section matches requests from it.
trunk_match="$(printf '%s' "$ASTERISK_TRUNK_URI" \
    | sed -e 's/^sips\{0,1\}://' -e 's/[;?].*//' -e 's/.*@//')"
case "$trunk_match" in
    \[*\]:*) trunk_host="$(printf '%s' "$trunk_match" | sed 's/^\[\([^]]*\)\].*/\1/')" ;;
    \[*) trunk_host="$(printf '%s' "$trunk_match" | sed 's/^\[\([^]]*\)\].*/\1/')"
          trunk_match="$trunk_host" ;;
    *) trunk_host="${trunk_match%%:*}" ;;
esac
: "${ASTERISK_TRUNK_HOST:=$trunk_host}"
: "${ASTERISK_TRUNK_MATCH:=$trunk_match}"
if [ -z "${ASTERISK_MOD_DIR:-}" ]; then
    ASTERISK_MOD_DIR="$(ls -d /usr/lib/*/asterisk/modules 2>/dev/null | head -n 1)"
    [ -n "$ASTERISK_MOD_DIR" ] || fail "no Asterisk modules directory under /usr/lib/*/asterisk/modules"
fi
export ASTERISK_INSTANCE ASTERISK_INST_DIR ASTERISK_HTTP_PORT ASTERISK_SIP_PORT \
    ASTERISK_AMI_PORT ASTERISK_RTP_START ASTERISK_RTP_END ASTERISK_TRUNK_URI \
    ASTERISK_TRUNK_HOST ASTERISK_TRUNK_MATCH ASTERISK_SIP_BIND ASTERISK_MOD_DIR \
    ASTERISK_ARI_USER ASTERISK_ARI_PASSWORD ASTERISK_AMI_USER ASTERISK_AMI_PASSWORD

umask 077
for sub in etc run spool log lib db cache; do
    mkdir -p "$ASTERISK_INST_DIR/$sub"
done
etc="$ASTERISK_INST_DIR/etc"
rm -f "$etc"/*.conf "$ASTERISK_INST_DIR"/run/*

for template in "$TEMPLATES"/*.conf; do
    name="$(basename "$template")"
    awk -v file="$name" '
    {
        line = $0; out = ""
        while (match(line, /[{][{][ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*[}][}]/)) {
            key = substr(line, RSTART + 2, RLENGTH - 4)
            gsub(/[ \t]/, "", key)
            var = "ASTERISK_" toupper(key)
            if (!(var in ENVIRON)) {
                printf "callverify-asterisk: %s needs {{%s}}: set %s\n", file, key, var > "/dev/stderr"
                exit 2
            }
            out = out substr(line, 1, RSTART - 1) ENVIRON[var]
            line = substr(line, RSTART + RLENGTH)
        }
        print out line
    }' "$template" > "$etc/$name" || exit 2
done
# taken from the package as it is (ringing tones), as the sandbox does
if [ ! -e "$etc/indications.conf" ] && [ -r /etc/asterisk/indications.conf ]; then
    cp /etc/asterisk/indications.conf "$etc/indications.conf"
fi

if [ "${1:-}" = render ]; then
    exit 0
fi
exec /usr/sbin/asterisk -f -C "$etc/asterisk.conf" "$@"

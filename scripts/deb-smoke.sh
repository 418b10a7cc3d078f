#!/usr/bin/env bash
# The Debian package end to end, as CI runs it (.ci/run, after `cargo test`):
# build it with cargo-deb, install it with dpkg, check what it installed
# (user, modes, unit), start the binary the way the installed systemd unit
# does (its ExecStart, as its User, with the packaged config and the unit's
# LimitNOFILE; systemd itself may not run here), make an aws CLI round trip
# against it, stop it with SIGTERM (exit 0) and purge the package.
#
#   scripts/deb-smoke.sh [PATH.deb]     # without a path: cargo deb builds one
#
# Root only (dpkg -i, a system user). It refuses to run where a ringstore
# user or /var/lib/ringstore already exists, since it removes both.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

[ "$(id -u)" = 0 ] || { echo "deb-smoke: run as root" >&2; exit 2; }
if getent passwd ringstore >/dev/null || [ -e /var/lib/ringstore ]; then
    echo "deb-smoke: a ringstore user or /var/lib/ringstore exists already; not touching them" >&2
    exit 2
fi

deb=${1:-}
if [ -z "$deb" ]; then
    command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
    echo "deb-smoke: cargo-deb ready after $((SECONDS - started)) s"
    cargo deb
    echo "deb-smoke: package built after $((SECONDS - started)) s"
    deb=$(ls -t target/debian/ringstore_*.deb | head -1)
fi

work=$(mktemp -d)
pid=
cleanup() {
    status=$?
    [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
    if [ "$status" != 0 ] && [ -f "$work/server.log" ]; then
        echo "deb-smoke: FAILED; the server's log:" >&2
        tail -n 60 "$work/server.log" >&2
    fi
    dpkg --purge ringstore >/dev/null 2>&1 || true
    userdel ringstore 2>/dev/null || true
    rm -rf /var/lib/ringstore "$work"
    exit "$status"
}
trap cleanup EXIT
dpkg -i "$deb"

# What the package installed, with the owners and modes it promises.
unit=/lib/systemd/system/ringstore.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/ringstore.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
nofile=$(sed -n 's/^LimitNOFILE=//p' "$unit")
[ "$exec_start" = "/usr/bin/ringstore serve --config /etc/ringstore/ringstore.toml" ]
getent passwd "$user" >/dev/null
[ "$(stat -c '%U %a' /var/lib/ringstore)" = "$user 700" ]
[ "$(stat -c '%U:%G %a' /etc/ringstore/ringstore.toml)" = "root:$user 640" ]
ls /usr/share/man/man1/ringstore.1* >/dev/null
ringstore config check /etc/ringstore/ringstore.toml

# A free port instead of the packaged 9000: the environment overrides the file.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
endpoint="http://127.0.0.1:$port"
(
    ulimit -n "$nofile" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    cd /
    umask 0077
    # setpriv execs the server itself, so the signals below reach it and
    # `wait` sees its own exit status (runuser would stand in between).
    # shellcheck disable=SC2086 # ExecStart is a command line to split
    exec setpriv --reuid "$user" --regid "$user" --init-groups \
        env RINGSTORE_LISTEN="127.0.0.1:$port" $exec_start
) >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
    grep -q '^ready' "$work/server.log" && break
    kill -0 "$pid" 2>/dev/null || { echo "deb-smoke: the server exited" >&2; exit 1; }
    sleep 0.1
done
grep -q '^ready' "$work/server.log"
[ "$(ps -o user= -p "$pid")" = "$user" ]

# The first start wrote the credentials: the service user's, mode 0600.
creds=/var/lib/ringstore/credentials.json
[ "$(stat -c '%U %a' "$creds")" = "$user 600" ]
AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_key"])' "$creds")
AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret_key"])' "$creds")
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
aws=target/pyenv/bin/aws
if [ ! -x "$aws" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet awscli
    aws="$work/venv/bin/aws"
fi
head -c 3000000 /dev/urandom >"$work/in"
$aws --endpoint-url "$endpoint" s3 mb s3://deb-smoke
$aws --endpoint-url "$endpoint" s3 cp "$work/in" s3://deb-smoke/dir/object
$aws --endpoint-url "$endpoint" s3 ls s3://deb-smoke/dir/ | grep -q ' 3000000 object$'
$aws --endpoint-url "$endpoint" s3 cp s3://deb-smoke/dir/object "$work/out"
cmp "$work/in" "$work/out"
ringstore admin --endpoint "$endpoint" --data-dir /var/lib/ringstore health
# Everything the server wrote is the service user's.
[ -z "$(find /var/lib/ringstore ! -user "$user" -print -quit)" ]

kill -TERM "$pid"
wait "$pid"
pid=
echo "deb-smoke: OK after $((SECONDS - started)) s"

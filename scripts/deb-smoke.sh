#!/usr/bin/env bash
# The Debian package end to end, as CI runs it (.ci/run, after `cargo test`):
# build it with cargo-deb, install it with dpkg, start the binary the way the
# installed systemd unit does (its ExecStart, as its User, with the packaged
# config; systemd itself may not run here), make an aws CLI round trip
# against it, stop it with SIGTERM and remove the package.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

command -v cargo-deb >/dev/null || cargo install --locked cargo-deb
echo "deb-smoke: cargo-deb ready after $((SECONDS - started)) s"
cargo deb
echo "deb-smoke: package built after $((SECONDS - started)) s"
deb=$(ls -t target/debian/ringstore_*.deb | head -1)
dpkg -i "$deb"

unit=/lib/systemd/system/ringstore.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/ringstore.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
getent passwd "$user" >/dev/null
[ "$(stat -c '%U %a' /var/lib/ringstore)" = "$user 700" ]
ringstore config check /etc/ringstore/ringstore.toml

# A free port instead of the packaged 9000: the environment overrides the file.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
# shellcheck disable=SC2086 # ExecStart is a command line to split
runuser -u "$user" -- env RINGSTORE_LISTEN="127.0.0.1:$port" $exec_start >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; dpkg --purge ringstore >/dev/null 2>&1 || true; rm -rf /var/lib/ringstore; }
trap cleanup EXIT
for _ in $(seq 300); do grep -q '^ready' "$log" && break; sleep 0.1; done
grep -q '^ready' "$log" || { cat "$log"; exit 1; }

creds=/var/lib/ringstore/credentials.json
export AWS_ACCESS_KEY_ID=$(python3 -c "import json;print(json.load(open('$creds'))['access_key'])")
export AWS_SECRET_ACCESS_KEY=$(python3 -c "import json;print(json.load(open('$creds'))['secret_key'])")
export AWS_DEFAULT_REGION=us-east-1
aws=target/pyenv/bin/aws
[ -x "$aws" ] || aws=aws
endpoint="http://127.0.0.1:$port"
head -c 3000000 /dev/urandom >"$log.in"
$aws --endpoint-url "$endpoint" s3 mb s3://deb-smoke
$aws --endpoint-url "$endpoint" s3 cp "$log.in" s3://deb-smoke/object
$aws --endpoint-url "$endpoint" s3 cp s3://deb-smoke/object "$log.out"
cmp "$log.in" "$log.out"
ringstore admin --endpoint "$endpoint" --data-dir /var/lib/ringstore health

kill -TERM "$pid"
wait "$pid"
echo "deb-smoke: OK after $((SECONDS - started)) s"

#!/usr/bin/env bash
# Measures the machine limits benches/README.md compares against: O_DIRECT
# sequential write and read bandwidth, 4 KiB write + fdatasync latency, the
# QD1 O_DSYNC write rate the log's flusher sees, and loopback TCP.
#   benches/limits.sh [OUT_FILE]        (apt-get install -y fio iperf3)
# Writes a 2 GiB scratch file under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/limits.txt}
DIR=target/limits-scratch
mkdir -p "$DIR" "$(dirname "$OUT")"
F=$DIR/fio.dat
trap 'rm -rf "$DIR"; kill $IPERF 2>/dev/null || true' EXIT
IPERF=
fio_bw() { # fio_bw NAME ARGS... -> "NAME: X MiB/s"
  local name=$1; shift
  fio --name="$name" --filename="$F" --size=2G --direct=1 --runtime=8 --time_based \
      --output-format=json "$@" 2>/dev/null |
    python3 -c "import json,sys;j=json.load(sys.stdin)['jobs'][0];r=j['read']['bw_bytes']+j['write']['bw_bytes'];print(f'$name: {r/2**20:.0f} MiB/s ({r/1e9:.2f} GB/s)')"
}
{
  echo "# $(date -u +%FT%TZ) $(uname -r) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) nproc=$(nproc)"
  # Write the whole file once first: the measured writes then land in
  # written (not unwritten-extent) space, like the log's zero-filled segments.
  fio --name=prefill --filename="$F" --size=2G --direct=1 --rw=write --bs=1M --iodepth=32 \
      --ioengine=libaio >/dev/null 2>&1
  fio_bw "seq write 1MiB QD32" --rw=write --bs=1M --iodepth=32 --ioengine=libaio
  fio_bw "seq read 1MiB QD32" --rw=read --bs=1M --iodepth=32 --ioengine=libaio
  fio_bw "seq write 1MiB QD1 O_DSYNC (one log flusher)" --rw=write --bs=1M --iodepth=1 --ioengine=psync --sync=1
  fio --name=fsync4k --filename="$F" --size=2G --rw=write --bs=4k --direct=1 --fdatasync=1 \
      --ioengine=psync --runtime=8 --time_based --output-format=json 2>/dev/null |
    python3 -c "
import json,sys
j=json.load(sys.stdin)['jobs'][0]
w=j['write']['clat_ns']['percentile']; s=j['sync']['lat_ns']['percentile']
print(f\"4KiB write+fdatasync: {j['write']['iops']:.0f} IOPS, write p50 {w['50.000000']/1e3:.0f} us p99 {w['99.000000']/1e3:.0f} us, fdatasync p50 {s['50.000000']/1e3:.0f} us p99 {s['99.000000']/1e3:.0f} us\")"
  iperf3 -s -1 -B 127.0.0.1 -p 19711 >/dev/null 2>&1 & IPERF=$!
  sleep 0.5
  iperf3 -c 127.0.0.1 -p 19711 -t 8 -J | python3 -c "import json,sys;j=json.load(sys.stdin);b=j['end']['sum_received']['bits_per_second'];print(f'loopback TCP (iperf3, 1 stream): {b/1e9:.1f} Gbit/s ({b/8e9:.2f} GB/s)')"
} | tee "$OUT"

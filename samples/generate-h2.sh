#!/usr/bin/env bash
# Records the HTTP/2 (RFC 8441 extended CONNECT) captures in samples/ from real traffic on
# the loopback interface, and tshark's HTTP/2 header dissection of each next to the expected
# outputs (samples/expected/NAME.pcap.tshark.tsv), which tests/it/h2.rs checks wssniff's
# decoded headers against. Run as root on Debian (12/13 tested):
#
#     sudo samples/generate-h2.sh             # all scenarios
#     sudo samples/generate-h2.sh hypercorn   # only scenarios whose name contains "hypercorn"
#
# Installs what is missing (tcpdump, tshark, python3-venv; hypercorn and h2 in
# samples/gen/.venv-h2), listens on 127.0.0.1 ports 18201-18209 only, and kills every
# process it started (by pid) on exit. Every wait is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN=$HERE/gen
ONLY=${1:-}
WORK=$(mktemp -d /tmp/wssniff-h2-samples.XXXXXX)
PIDS=()
CAP_PID=

# log, warn, die, kill_pid
source "$(dirname "${BASH_SOURCE[0]}")/gen/lib.sh"

cleanup() {
  local pid
  [[ -n $CAP_PID ]] && kill_pid "$CAP_PID" INT
  for pid in "${PIDS[@]}"; do kill_pid "$pid"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[[ $(id -u) -eq 0 ]] || die "run as root (tcpdump needs it)"

missing=()
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v tshark  >/dev/null || missing+=(tshark)
command -v python3 >/dev/null || missing+=(python3 python3-venv)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=$GEN/.venv-h2/bin/python
if ! "$PY" -c 'import hypercorn, h2' 2>/dev/null; then
  log "creating $GEN/.venv-h2 (hypercorn, h2)"
  rm -rf "$GEN/.venv-h2"
  python3 -m venv "$GEN/.venv-h2"
  timeout 300 "$PY" -m pip install -q hypercorn h2 wsproto
  "$PY" -c 'import hypercorn, h2' || die "could not install hypercorn and h2"
fi
H2WS=("$PY" "$GEN/h2ws.py")

bg() {  # bg NAME CMD...: a background process, bounded to 60 s
  local name=$1; shift
  timeout -s TERM 60 "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

wait_listen() {  # wait_listen PORT: until something LISTENs on tcp PORT
  local hex i
  hex=$(printf ':%04X' "$1")
  for i in $(seq 100); do
    awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
      /proc/net/tcp 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$WORK"/*.log >&2 || true
  die "nothing listening on port $1 after 10 s"
}

cap_start() {  # cap_start OUTFILE FILTER
  local i
  : >"$WORK/tcpdump.err"
  rm -f "$1"
  tcpdump -i lo -U --immediate-mode -Z root -w "$1" "$2" 2>"$WORK/tcpdump.err" &
  CAP_PID=$!
  for i in $(seq 100); do
    grep -q 'listening on' "$WORK/tcpdump.err" && break
    kill -0 "$CAP_PID" 2>/dev/null || { cat "$WORK/tcpdump.err" >&2; die "tcpdump exited"; }
    sleep 0.1
  done
  sleep 0.3
}

cap_stop() {
  sleep 0.5
  kill_pid "$CAP_PID" INT
  CAP_PID=
  sleep 0.3
}

# tshark's view of every HEADERS frame: packet, stream, names, values (comma-joined).
dissect() {  # dissect PCAP PORT...
  local pcap=$1 args=() port
  shift
  for port in "$@"; do args+=(-d "tcp.port==$port,http2"); done
  tshark -r "$pcap" "${args[@]}" -Y 'http2.type == 1' -T fields -E separator=/t \
    -e frame.number -e http2.streamid -e http2.header.name -e http2.header.value \
    2>/dev/null >"expected/$pcap.tshark.tsv"
}

want() {  # want NAME: false if filtered out by $1
  [[ -z $ONLY || $1 == *"$ONLY"* ]] || return 1
  log "$1"
}

cd "$HERE"

# hypercorn serving an ASGI WebSocket echo over h2c (prior knowledge): one connection with
# two WebSocket streams whose client ends each with END_STREAM on its Close (Firefox's way),
# and one whose client resets the stream with CANCEL after both Close frames (Chrome's).
if want h2c-hypercorn-ok; then
  bg hypercorn "${H2WS[@]}" hypercorn --port 18201 --lifetime 30
  wait_listen 18201
  cap_start h2c-hypercorn-ok.pcap 'tcp port 18201'
  timeout 10 "${H2WS[@]}" client --port 18201 --streams 2 --ending end_stream
  timeout 10 "${H2WS[@]}" client --port 18201 --ending cancel
  cap_stop
  dissect h2c-hypercorn-ok.pcap 18201
fi

# A server whose SETTINGS do not enable extended CONNECT; the client sends one anyway and the
# server resets the stream (PROTOCOL_ERROR).
if want h2c-no-connect-setting; then
  bg nosetting "${H2WS[@]}" nosetting --port 18202 --lifetime 30
  wait_listen 18202
  cap_start h2c-no-connect-setting.pcap 'tcp port 18202'
  timeout 10 "${H2WS[@]}" client --port 18202
  cap_stop
  dissect h2c-no-connect-setting.pcap 18202
fi

log "done; regenerate the expected outputs: WSSNIFF_BLESS=1 cargo test --test it samples"

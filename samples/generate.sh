#!/usr/bin/env bash
# Regenerates every capture in samples/ from real WebSocket traffic on the
# loopback interface.  Run as root on Debian (12 tested):
#
#     sudo samples/generate.sh            # all scenarios
#     sudo samples/generate.sh auth-401   # only scenarios whose name contains "auth-401"
#
# Installs what is missing (tcpdump, nginx-light, curl, python3 + websockets,
# nodejs/npm + ws, optionally wireshark-common for editcap), starts servers on
# 127.0.0.1 / ::1 ports 18001-18299 only, and kills everything it started on
# exit.  Every wait is bounded; the whole run takes about two minutes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN=$HERE/gen
ONLY=${1:-}
WORK=$(mktemp -d /tmp/wssniff-samples.XXXXXX)
ALL_PIDS=()   # every background process, for the exit trap
SCEN_PIDS=()  # background processes of the current scenario
CAP_PID=
IMP_CAPS=()   # captures of the imperfect scenarios
FAILED=()

# log, warn, die, kill_pid
source "$(dirname "${BASH_SOURCE[0]}")/gen/lib.sh"

cleanup() {
  local pid
  [[ -n $CAP_PID ]] && kill_pid "$CAP_PID" INT
  for pid in "${IMP_CAPS[@]}"; do kill_pid "$pid" INT; done
  for pid in "${ALL_PIDS[@]}"; do kill_pid "$pid"; done
  # The network namespace and veth pair of imperfect-network-loss, if a run stopped early.
  ip netns del wssniff-imp-c 2>/dev/null || true
  ip netns del wssniff-imp-s 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[[ $(id -u) -eq 0 ]] || die "run as root (tcpdump needs it)"

# ------------------------------------------------------------------ install
apt_updated=
apt_install() {
  if [[ -z $apt_updated ]]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v nginx   >/dev/null || missing+=(nginx-light)
command -v curl    >/dev/null || missing+=(curl ca-certificates)
command -v python3 >/dev/null || missing+=(python3)
command -v node    >/dev/null || missing+=(nodejs)
command -v npm     >/dev/null || missing+=(npm)
command -v timeout >/dev/null || missing+=(coreutils)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi
if ! command -v editcap >/dev/null; then
  log "installing wireshark-common (editcap) for the pcapng sample"
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt_install wireshark-common || warn "could not install wireshark-common; pcapng-ok.pcapng will be skipped"
fi

# Python with websockets >= 13 (new asyncio API): use the current python3 if
# it already has it, else a venv in gen/.venv (PEP 668 forbids a system pip).
PY=${PYTHON:-python3}
if ! "$PY" -c 'import websockets.asyncio.client' 2>/dev/null; then
  if [[ ! -x $GEN/.venv/bin/python ]]; then
    rm -rf "$GEN/.venv"
    if ! "$PY" -m venv "$GEN/.venv" 2>/dev/null; then
      apt_install python3-venv
      rm -rf "$GEN/.venv"
      "$PY" -m venv "$GEN/.venv"
    fi
  fi
  PY=$GEN/.venv/bin/python
  "$PY" -c 'import websockets.asyncio.client' 2>/dev/null ||
    timeout 300 "$PY" -m pip install -q 'websockets>=13'
  "$PY" -c 'import websockets.asyncio.client' || die "could not install python websockets"
fi
# aiohttp, a second Python server library (the curl idle-exit sample).
if ! "$PY" -c 'import aiohttp' 2>/dev/null; then
  if [[ $PY != "$GEN/.venv/bin/python" ]]; then
    [[ -x $GEN/.venv/bin/python ]] || "$PY" -m venv "$GEN/.venv" || apt_install python3-venv
    [[ -x $GEN/.venv/bin/python ]] || "$PY" -m venv "$GEN/.venv"
    PY=$GEN/.venv/bin/python
    "$PY" -c 'import websockets.asyncio.client' 2>/dev/null ||
      timeout 300 "$PY" -m pip install -q 'websockets>=13'
  fi
  timeout 300 "$PY" -m pip install -q aiohttp
  "$PY" -c 'import aiohttp' || die "could not install aiohttp"
fi

if [[ ! -d $GEN/node_modules/ws ]]; then
  log "npm install (ws) in $GEN"
  (cd "$GEN" && timeout 300 npm install --no-audit --no-fund --silent)
fi

# ------------------------------------------------------------------ helpers
bg() {  # bg NAME CMD...: start a background process, bounded to 90 s
  local name=$1; shift
  timeout -s TERM 90 "$@" >"$WORK/$name.log" 2>&1 &
  ALL_PIDS+=($!)
  SCEN_PIDS+=($!)
}

stop_bg() {  # stop the current scenario's background processes
  local pid
  for pid in "${SCEN_PIDS[@]}"; do kill_pid "$pid"; done
  SCEN_PIDS=()
}

wait_file() {  # wait_file FILE SECONDS
  local i
  for i in $(seq $(($2 * 10))); do
    [[ -e $1 ]] && return 0
    sleep 0.1
  done
  return 1
}

wait_pid() {  # wait_pid PID SECONDS: wait for a background process, kill it if late
  local i
  for i in $(seq $(($2 * 10))); do
    kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  warn "process $1 still running after $2 s; killing it"
  kill_pid "$1"
}

run() {  # run SECONDS CMD...: foreground client, bounded; failure is recorded
  local t=$1; shift
  if ! timeout -s TERM "$t" "$@"; then
    warn "client failed or timed out: $*"
    FAILED+=("$CURRENT")
  fi
}

CURRENT=
want() {  # want NAME: announce a scenario, false if filtered out by $1
  CURRENT=$1
  [[ -z $ONLY || $1 == *"$ONLY"* ]] || return 1
  log "$1"
}

nginx_start() {  # nginx_start TEMPLATE LISTEN UPSTREAM [READ_TIMEOUT]
  local tmpl=$1 listen=$2 upstream=$3 rt=${4:-60s} prefix
  prefix=$WORK/nginx-$listen
  mkdir -p "$prefix"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN_PORT@|$listen|g" \
      -e "s|@UPSTREAM_PORT@|$upstream|g" -e "s|@READ_TIMEOUT@|$rt|g" \
      "$GEN/$tmpl" >"$prefix/nginx.conf"
  bg "nginx-$listen" nginx -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf"
  wait_listen "$listen"
}

PYWS=("$PY" "$GEN/pyws.py")
AIOWS=("$PY" "$GEN/aiows.py")
RAW=("$PY" "$GEN/raw.py")
NODEWS=(node "$GEN/nodews.js")
CURL=(curl -sS -i --http1.1 --max-time 3 --noproxy '*' -o /dev/null -w 'curl: HTTP %{http_code}\n')
KEY=dGhlIHNhbXBsZSBub25jZQ==   # the RFC 6455 example key

good_handshake() {  # good_handshake NAME PORT OUT [tcpdump options]
  local port=$2 out=$3
  shift 3
  bg "srv-$port" "${PYWS[@]}" server --port "$port"
  wait_listen "$port"
  cap_start "$out" "tcp port $port" "$@"
  run 10 "${PYWS[@]}" client --url "ws://127.0.0.1:$port/chat"
  cap_stop
  stop_bg
}

cd "$HERE"

# ------------------------------------------------------------------ scenarios
if want python-websockets-ok; then
  bg srv "${PYWS[@]}" server --port 18001
  wait_listen 18001
  cap_start python-websockets-ok.pcap 'tcp port 18001'
  run 10 "${PYWS[@]}" client --url ws://127.0.0.1:18001/chat
  cap_stop
  stop_bg
fi

if want node-ws-subprotocol-deflate; then
  bg srv "${NODEWS[@]}" server-deflate 127.0.0.1 18011
  wait_listen 18011
  cap_start node-ws-subprotocol-deflate.pcap 'tcp port 18011'
  run 10 "${NODEWS[@]}" client-deflate ws://127.0.0.1:18011/chat
  cap_stop
  stop_bg
fi

if want nginx-proxy-ok; then
  bg backend "${PYWS[@]}" server --port 18022
  wait_listen 18022
  nginx_start nginx-ws.conf.tmpl 18021 18022
  cap_start nginx-proxy-ok.pcap 'tcp port 18021 or tcp port 18022'
  run 10 "${PYWS[@]}" client --url ws://127.0.0.1:18021/chat
  cap_stop
  stop_bg
fi

if want nginx-strips-upgrade; then
  bg backend "${NODEWS[@]}" server-app 127.0.0.1 18032
  wait_listen 18032
  nginx_start nginx-plain.conf.tmpl 18031 18032
  cap_start nginx-strips-upgrade.pcap 'tcp port 18031 or tcp port 18032'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18031/ws
  cap_stop
  stop_bg
fi

if want nginx-502-upstream-down; then
  nginx_start nginx-ws.conf.tmpl 18041 18042   # nothing listens on 18042
  cap_start nginx-502-upstream-down.pcap 'tcp port 18041 or tcp port 18042'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18041/chat
  cap_stop
  stop_bg
fi

if want nginx-503-rate-limited; then
  # nginx's limit_req (1 request a minute): the first client gets its 101 through the proxy,
  # the reconnect right after it gets nginx's 503.
  bg backend "${PYWS[@]}" server --port 18212
  wait_listen 18212
  nginx_start nginx-ratelimit.conf.tmpl 18211 18212
  cap_start nginx-503-rate-limited.pcap 'tcp port 18211 or tcp port 18212'
  run 10 "${PYWS[@]}" client --mode basic --url ws://127.0.0.1:18211/chat
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18211/chat
  cap_stop
  stop_bg
fi

if want origin-rejected-403; then
  bg srv "${PYWS[@]}" server --port 18051 --mode origin
  wait_listen 18051
  cap_start origin-rejected-403.pcap 'tcp port 18051'
  run 10 "${PYWS[@]}" client --mode origin-evil --url ws://127.0.0.1:18051/chat
  cap_stop
  stop_bg
fi

if want auth-401; then
  bg srv-py "${PYWS[@]}" server --port 18061 --mode auth
  bg srv-node "${NODEWS[@]}" server-auth 127.0.0.1 18062
  wait_listen 18061
  wait_listen 18062
  cap_start auth-401.pcap 'tcp port 18061 or tcp port 18062'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18061/private
  sleep 0.2
  run 10 "${NODEWS[@]}" client-expect-fail ws://127.0.0.1:18062/private
  cap_stop
  stop_bg
fi

if want credentials-redacted; then
  # A client sending credentials every way apps do (Authorization, Cookie, X-Api-Key,
  # ?token=, a bearer subprotocol, a token in the first message) and a server setting a
  # session cookie: wssniff must mask all of them in every output (tests/it/redact.rs).
  bg srv "${PYWS[@]}" server --port 18221 --mode credentials
  wait_listen 18221
  cap_start credentials-redacted.pcap 'tcp port 18221'
  run 15 "${PYWS[@]}" client --mode credentials --url ws://127.0.0.1:18221
  cap_stop
  stop_bg
fi

if want version-8-426; then
  bg srv "${PYWS[@]}" server --port 18071 --mode version
  wait_listen 18071
  cap_start version-8-426.pcap 'tcp port 18071'
  run 10 "${CURL[@]}" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H "Sec-WebSocket-Key: $KEY" -H 'Sec-WebSocket-Version: 8' \
    -H 'Sec-WebSocket-Origin: http://127.0.0.1' http://127.0.0.1:18071/chat
  cap_stop
  stop_bg
fi

if want curl-bad-requests; then
  bg srv "${NODEWS[@]}" server-plain 127.0.0.1 18081
  wait_listen 18081
  cap_start curl-bad-requests.pcap 'tcp port 18081'
  # 1. no Sec-WebSocket-Key
  run 5 "${CURL[@]}" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' http://127.0.0.1:18081/no-key
  sleep 0.2
  # 2. key is base64 but of 10 bytes ("the sample"), not 16
  run 5 "${CURL[@]}" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZQ==' -H 'Sec-WebSocket-Version: 13' \
    http://127.0.0.1:18081/short-key
  sleep 0.2
  # 3. no Connection: Upgrade (curl sends no Connection header by default)
  run 5 "${CURL[@]}" -H 'Upgrade: websocket' -H "Sec-WebSocket-Key: $KEY" \
    -H 'Sec-WebSocket-Version: 13' http://127.0.0.1:18081/no-connection
  sleep 0.2
  # 4. POST instead of GET
  run 5 "${CURL[@]}" -X POST -d 'x=1' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H "Sec-WebSocket-Key: $KEY" -H 'Sec-WebSocket-Version: 13' http://127.0.0.1:18081/post
  cap_stop
  stop_bg
fi

if want no-response; then
  bg srv "${PYWS[@]}" server --port 18091 --mode silent
  wait_listen 18091
  cap_start no-response.pcap 'tcp port 18091'
  run 10 "${PYWS[@]}" client --mode expect-fail --open-timeout 2 --url ws://127.0.0.1:18091/chat
  cap_stop
  stop_bg
fi

if want ipv6-ok; then
  bg srv "${PYWS[@]}" server --host ::1 --port 18101
  wait_listen 18101
  cap_start ipv6-ok.pcap 'tcp port 18101'
  run 10 "${PYWS[@]}" client --url 'ws://[::1]:18101/chat'
  cap_stop
  stop_bg
fi

if want mid-connection; then
  bg srv "${PYWS[@]}" server --port 18111
  wait_listen 18111
  rm -f "$WORK/mid.ready" "$WORK/mid.stop"
  bg client "${PYWS[@]}" client --mode long --duration 15 --url ws://127.0.0.1:18111/chat \
    --ready-file "$WORK/mid.ready" --stop-file "$WORK/mid.stop"
  client_pid=$!
  wait_file "$WORK/mid.ready" 10 || die "mid-connection client did not connect"
  sleep 0.5
  cap_start mid-connection.pcap 'tcp port 18111'
  sleep 1
  touch "$WORK/mid.stop"
  wait_pid "$client_pid" 5
  cap_stop
  stop_bg
fi

if want dribbled-request; then
  bg srv "${PYWS[@]}" server --port 18121
  wait_listen 18121
  cap_start dribbled-request.pcap 'tcp port 18121'
  run 20 "${RAW[@]}" dribble 127.0.0.1 18121
  cap_stop
  stop_bg
fi

if want keepalive-then-upgrade; then
  bg srv "${NODEWS[@]}" server-app 127.0.0.1 18131
  wait_listen 18131
  cap_start keepalive-then-upgrade.pcap 'tcp port 18131'
  run 10 "${RAW[@]}" keepalive 127.0.0.1 18131
  cap_stop
  stop_bg
fi

if want handcrafted-bad-accept; then
  bg srv "${RAW[@]}" handcrafted-server 127.0.0.1 18141 bad-accept
  wait_listen 18141
  cap_start handcrafted-bad-accept.pcap 'tcp port 18141'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18141/chat
  cap_stop
  stop_bg
fi

if want handcrafted-unoffered-subprotocol; then
  bg srv "${RAW[@]}" handcrafted-server 127.0.0.1 18142 unoffered-subprotocol
  wait_listen 18142
  cap_start handcrafted-unoffered-subprotocol.pcap 'tcp port 18142'
  run 10 "${PYWS[@]}" client --mode expect-fail-chat --url ws://127.0.0.1:18142/chat
  cap_stop
  stop_bg
fi

if want handcrafted-double-accept-extension; then
  bg srv "${RAW[@]}" handcrafted-server 127.0.0.1 18143 unoffered-extension
  wait_listen 18143
  cap_start handcrafted-double-accept-extension.pcap 'tcp port 18143'
  # 1. client offers no extension, server accepts permessage-deflate
  run 10 "${PYWS[@]}" client --mode expect-fail-nodeflate --url ws://127.0.0.1:18143/chat
  sleep 0.2
  # 2. client offers permessage-deflate once, server accepts it twice
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18143/chat
  cap_stop
  stop_bg
fi

if want sll2-any-ok; then
  CAP_IF=any good_handshake sll2-any-ok 18151 sll2-any-ok.pcap
fi

if want nanosecond-ok; then
  good_handshake nanosecond-ok 18161 nanosecond-ok.pcap --time-stamp-precision=nano
fi

if want pcapng-ok; then
  if command -v editcap >/dev/null; then
    good_handshake pcapng-ok 18171 "$WORK/pcapng-ok.pcap"
    editcap -F pcapng "$WORK/pcapng-ok.pcap" pcapng-ok.pcapng
  else
    warn "editcap missing: skipping pcapng-ok.pcapng"
  fi
fi

if want pcapng-mixed-linktypes; then
  # Two interfaces with different link types in one pcapng (Ethernet + Linux SLL2), as
  # `dumpcap -i lo -i any` writes: derived from the two real captures above.
  if command -v mergecap >/dev/null && [[ -f python-websockets-ok.pcap && -f sll2-any-ok.pcap ]]; then
    mergecap -F pcapng -w pcapng-mixed-linktypes.pcapng python-websockets-ok.pcap sll2-any-ok.pcap
  else
    warn "mergecap or its inputs missing: skipping pcapng-mixed-linktypes.pcapng"
  fi
fi

if want nginx-idle-timeout; then
  bg backend "${PYWS[@]}" server --port 18182
  wait_listen 18182
  nginx_start nginx-ws.conf.tmpl 18181 18182 2s
  cap_start nginx-idle-timeout.pcap 'tcp port 18181 or tcp port 18182'
  run 15 "${PYWS[@]}" client --mode idle --duration 6 --url ws://127.0.0.1:18181/chat
  cap_stop
  stop_bg
fi

if want close-codes; then
  bg srv "${PYWS[@]}" server --port 18191 --mode close-codes
  wait_listen 18191
  cap_start close-codes.pcap 'tcp port 18191'
  run 30 "${PYWS[@]}" client --mode close-codes --url ws://127.0.0.1:18191
  cap_stop
  stop_bg
fi

if want curl-aiohttp-idle-exit; then
  # curl sends a valid upgrade straight to aiohttp (no proxy), gets its 101, then gives up
  # at --max-time and closes TCP without a close frame: 1 s, then 2 s of silence. Nothing
  # on the path has an idle timeout; wssniff must report the silence, not blame a proxy.
  bg srv "${AIOWS[@]}" --port 18251
  wait_listen 18251
  cap_start curl-aiohttp-idle-exit.pcap 'tcp port 18251'
  for t in 1 2; do
    # curl exits 28 (timeout) by design here.
    timeout 10 "${CURL[@]}" --max-time "$t" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
      -H "Sec-WebSocket-Key: $KEY" -H 'Sec-WebSocket-Version: 13' \
      http://127.0.0.1:18251/ws || true
    sleep 0.2
  done
  cap_stop
  stop_bg
fi

if want nginx-http10-505; then
  # nginx forwards Upgrade and Connection but speaks its default HTTP/1.0 upstream
  # (no proxy_http_version 1.1): websockets answers 505, which nginx passes back.
  bg backend "${PYWS[@]}" server --port 18232
  wait_listen 18232
  nginx_start nginx-http10.conf.tmpl 18231 18232
  cap_start nginx-http10-505.pcap 'tcp port 18231 or tcp port 18232'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18231/chat
  cap_stop
  stop_bg
fi

if want nginx-no-upgrade-426; then
  # nginx speaks HTTP/1.1 upstream but forwards neither Upgrade nor Connection (it sends
  # `Connection: close`): websockets answers 426 about the Connection header nginx sent,
  # and nginx relays it. The client's leg alone blames the server; the hop shows the proxy.
  bg backend "${PYWS[@]}" server --port 18262
  wait_listen 18262
  nginx_start nginx-noupgrade.conf.tmpl 18261 18262
  cap_start nginx-no-upgrade-426.pcap 'tcp port 18261 or tcp port 18262'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18261/chat
  cap_stop
  stop_bg
fi

if want nginx-no-upgrade-aiohttp-400; then
  # The same nginx in front of aiohttp, whose 400 for a request without Upgrade names the
  # header nginx did not forward.
  bg backend "${AIOWS[@]}" --port 18264
  wait_listen 18264
  nginx_start nginx-noupgrade.conf.tmpl 18263 18264
  cap_start nginx-no-upgrade-aiohttp-400.pcap 'tcp port 18263 or tcp port 18264'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18263/ws
  cap_stop
  stop_bg
fi

if want nginx-gzip-origin-403; then
  # A correctly configured nginx with gzip on in front of websockets checking Origin; the
  # client, from another origin, accepts gzip (browsers send Accept-Encoding on upgrades), so
  # nginx relays websockets' 403 and its reason gzip-compressed: the client's leg has a gzip
  # body, the upstream leg the plain one.
  bg backend "${PYWS[@]}" server --port 18266 --mode origin
  wait_listen 18266
  nginx_start nginx-ws-gzip.conf.tmpl 18265 18266
  cap_start nginx-gzip-origin-403.pcap 'tcp port 18265 or tcp port 18266'
  run 10 "${PYWS[@]}" client --mode origin-evil-gzip --url ws://127.0.0.1:18265/chat
  cap_stop
  stop_bg
fi

if want aiohttp-refusal-bodies; then
  # aiohttp refusing upgrades with bodies that are not plain text: a protobuf error (binary,
  # shown as hex) and a text reason compressed with deflate and sent chunked.
  bg srv "${AIOWS[@]}" --port 18271 --mode refuse
  wait_listen 18271
  cap_start aiohttp-refusal-bodies.pcap 'tcp port 18271'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18271/proto
  run 10 "${PYWS[@]}" client --mode expect-fail-gzip --url ws://127.0.0.1:18271/deflate
  cap_stop
  stop_bg
fi

if want node-ws-unoffered-subprotocol; then
  # A real server choosing a subprotocol nobody offered: node ws with a handleProtocols hook
  # that always answers graphql-ws. Two real clients offering only chat (websockets, then
  # node ws) fail the handshake and drop TCP without a frame (RFC 6455 §4.1).
  bg srv "${NODEWS[@]}" server-wrong-protocol 127.0.0.1 18273
  wait_listen 18273
  cap_start node-ws-unoffered-subprotocol.pcap 'tcp port 18273'
  run 10 "${PYWS[@]}" client --mode expect-fail-chat --url ws://127.0.0.1:18273/chat
  run 10 "${NODEWS[@]}" client-expect-fail-chat ws://127.0.0.1:18273/chat
  cap_stop
  stop_bg
fi

if want nginx-504-slow-upstream; then
  # nginx gives the upstream 2 s to answer (proxy_read_timeout 2s); websockets' handshake
  # hook takes 6 s. nginx answers the client 504 and closes the upstream leg unanswered
  # (websockets sends nothing on a connection its peer closed): gateway_timeout stands,
  # uncorrected, and the hop says the proxy gave up on the upstream.
  bg backend "${PYWS[@]}" server --port 18276 --mode slow
  wait_listen 18276
  nginx_start nginx-ws.conf.tmpl 18275 18276 2s
  cap_start nginx-504-slow-upstream.pcap 'tcp port 18275 or tcp port 18276'
  run 20 "${PYWS[@]}" client --mode expect-fail --open-timeout 10 --url ws://127.0.0.1:18275/chat
  sleep 5
  cap_stop
  stop_bg
fi

if want reset-after-close; then
  # A clean closing handshake (client 1000 "done", server echo, server FIN), then the
  # client, whose socket has SO_LINGER 0, ends TCP with an RST: normal, no alarm.
  bg srv "${PYWS[@]}" server --port 18241
  wait_listen 18241
  cap_start reset-after-close.pcap 'tcp port 18241'
  run 10 "${PYWS[@]}" client --mode reset-after-close --url ws://127.0.0.1:18241/chat
  cap_stop
  stop_bg
fi

if want websockets-400-missing-subprotocol; then
  # A websockets server that requires subprotocol "chat"; the client offers none and gets
  # websockets' own reason in the 400's body.
  bg srv "${PYWS[@]}" server --port 18241 --mode subprotocol
  wait_listen 18241
  cap_start websockets-400-missing-subprotocol.pcap 'tcp port 18241'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18241/chat
  cap_stop
  stop_bg
fi

if want slow-101; then
  # The server's process_request hook takes 6 s; the client (open_timeout 10 s) waits and
  # the 101 comes 6 s after the request.
  bg srv "${PYWS[@]}" server --port 18231 --mode slow
  wait_listen 18231
  cap_start slow-101.pcap 'tcp port 18231'
  run 20 "${PYWS[@]}" client --open-timeout 10 --url ws://127.0.0.1:18231/chat
  cap_stop
  stop_bg
fi

if want handcrafted-upgrade-typo; then
  # A hand-written 101 naming "websockets"; the real websockets client fails it and closes.
  bg srv "${RAW[@]}" handcrafted-server 127.0.0.1 18144 upgrade-typo
  wait_listen 18144
  cap_start handcrafted-upgrade-typo.pcap 'tcp port 18144'
  run 10 "${PYWS[@]}" client --mode expect-fail --url ws://127.0.0.1:18144/chat
  cap_stop
  stop_bg
fi

# ------------------------------------------------------------------ imperfect captures
# Issue 19: the same real traffic captured whole, cut by the snap length, one way, with
# capture loss, duplicated and out of order, and (in a network namespace) with network
# loss. Files and the endpoints' own logs (the expected results) go to samples/imperfect/.
IMP=$HERE/imperfect
IMPERFECT=("$PY" "$GEN/imperfect.py")

imperfect_cap() {  # imperfect_cap IFACE OUTFILE FILTER [tcpdump options...]: start, wait ready
  local iface=$1 out=$2 filter=$3 err i
  shift 3
  err=$WORK/tcpdump-$(basename "$out").err
  rm -f "$out"
  ${IMP_NETNS:+ip netns exec "$IMP_NETNS"} tcpdump -i "$iface" -U --immediate-mode -Z root "$@" -w "$out" "$filter" 2>"$err" &
  IMP_CAPS+=($!)
  ALL_PIDS+=($!)
  for i in $(seq 100); do
    grep -q 'listening on' "$err" && return 0
    sleep 0.1
  done
  die "tcpdump on $iface not ready after 10 s"
}

imperfect_stop() {  # stops every capture imperfect_cap started
  local pid
  sleep 0.5
  for pid in "${IMP_CAPS[@]}"; do kill_pid "$pid" INT; done
  IMP_CAPS=()
  sleep 0.3
}

if want imperfect-cut; then
  # One run of 12 attempts, captured three ways at once: whole (-i lo), cut at 96 bytes on
  # loopback (Ethernet framing) and cut at 200 bytes on `any` (SLL2 framing).
  mkdir -p "$IMP"
  IMP_CAPS=()
  bg imperfect-srv "${IMPERFECT[@]}" server --port 18201 --log "$IMP/server.jsonl"
  wait_listen 18201
  imperfect_cap lo "$WORK/whole.pcap" 'tcp port 18201'
  imperfect_cap lo "$IMP/snaplen-96-lo.pcap" 'tcp port 18201' -s 96
  imperfect_cap any "$IMP/snaplen-200-any.pcap" 'tcp port 18201' -s 200
  sleep 0.3
  run 60 "${IMPERFECT[@]}" client --port 18201 --log "$IMP/client.jsonl"
  imperfect_stop
  stop_bg
  cp "$WORK/whole.pcap" "$IMP/two-way.pcap"
  # One-way files from the two-way capture, as asymmetric routing or a one-way SPAN gives.
  tcpdump -r "$IMP/two-way.pcap" -w "$IMP/client-to-server.pcap" 'tcp dst port 18201' 2>/dev/null
  tcpdump -r "$IMP/two-way.pcap" -w "$IMP/server-to-client.pcap" 'tcp src port 18201' 2>/dev/null
  if command -v editcap >/dev/null && command -v tshark >/dev/null; then
    # Capture loss: packets the endpoints exchanged removed from the file afterwards: the
    # server's first payload packet (the answer to the upgrade) of the first two
    # connections, its second (the echo) of the next two.
    drop=$(tshark -r "$IMP/two-way.pcap" -Y 'tcp.srcport == 18201 && tcp.len > 0' \
      -T fields -e frame.number -e tcp.stream 2>/dev/null | awk '
        { n[$2]++ }
        ($2 <= 1 && n[$2] == 1) || ($2 >= 2 && $2 <= 3 && n[$2] == 2) { printf "%s ", $1 }')
    # shellcheck disable=SC2086
    editcap "$IMP/two-way.pcap" "$IMP/capture-loss.pcap" $drop
    echo "$drop" >"$IMP/capture-loss.removed"
    # Every packet twice (a SPAN port that sees both directions on two ports).
    mergecap -w "$IMP/every-packet-twice.pcap" "$IMP/two-way.pcap" "$IMP/two-way.pcap"
    # Two overlapping files of one capture merged: packets 1-120 and 60-end.
    total=$(tshark -r "$IMP/two-way.pcap" -T fields -e frame.number 2>/dev/null | tail -1)
    editcap -r "$IMP/two-way.pcap" "$WORK/first.pcap" 1-120
    editcap -r "$IMP/two-way.pcap" "$WORK/second.pcap" "60-$total"
    mergecap -w "$IMP/overlapping-files.pcap" "$WORK/first.pcap" "$WORK/second.pcap"
    # Timestamps out of order: the connections of the second half written first, as a
    # multi-queue capture or a concatenation of two files interleaves them.
    split=$(tshark -r "$IMP/two-way.pcap" -Y 'tcp.stream == 6 && tcp.flags.syn == 1 && tcp.flags.ack == 0' \
      -T fields -e frame.number 2>/dev/null | head -1)
    editcap -r "$IMP/two-way.pcap" "$WORK/early.pcap" "1-$((split - 1))"
    editcap -r "$IMP/two-way.pcap" "$WORK/late.pcap" "$split-$total"
    mergecap -a -w "$IMP/out-of-order.pcap" "$WORK/late.pcap" "$WORK/early.pcap"
  else
    warn "editcap/tshark missing: skipping the derived imperfect captures"
  fi
fi

if want imperfect-network-loss; then
  # Network loss: client and server each in a network namespace of their own, joined by a
  # veth pair. The capture runs on the client's end; an iptables rule there drops every 7th
  # packet from the server after the capture saw it (INPUT runs after the packet tap), so
  # the client never gets it and the server retransmits: the capture holds the original
  # and the retransmission. Deterministic: statistic --mode nth.
  if command -v iptables >/dev/null || apt_install iptables; then
    mkdir -p "$IMP"
    IMP_CAPS=()
    ip netns del wssniff-imp-c 2>/dev/null || true
    ip netns del wssniff-imp-s 2>/dev/null || true
    ip netns add wssniff-imp-c
    ip netns add wssniff-imp-s
    ip link add wsimp0 netns wssniff-imp-c type veth peer name wsimp1 netns wssniff-imp-s
    ip -n wssniff-imp-c addr add 10.219.0.1/24 dev wsimp0
    ip -n wssniff-imp-s addr add 10.219.0.2/24 dev wsimp1
    for ns in wssniff-imp-c wssniff-imp-s; do
      ip -n "$ns" link set lo up
    done
    ip -n wssniff-imp-c link set wsimp0 up
    ip -n wssniff-imp-s link set wsimp1 up
    # No segmentation offload, so one dropped packet is one segment on the wire.
    ip netns exec wssniff-imp-c ethtool -K wsimp0 tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec wssniff-imp-s ethtool -K wsimp1 tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec wssniff-imp-c iptables -A INPUT -p tcp --sport 18211 \
      -m statistic --mode nth --every 7 --packet 3 -j DROP
    bg imperfect-ns-srv ip netns exec wssniff-imp-s "${IMPERFECT[@]}" server --host 10.219.0.2 \
      --port 18211 --log "$IMP/network-loss.server.jsonl"
    for i in $(seq 100); do
      ip netns exec wssniff-imp-s awk '$4 == "0A" && $2 ~ /:4723$/ { f = 1 } END { exit !f }' /proc/net/tcp && break
      sleep 0.1
    done
    IMP_NETNS=wssniff-imp-c imperfect_cap wsimp0 "$IMP/network-loss.pcap" 'tcp port 18211'
    run 90 ip netns exec wssniff-imp-c "${IMPERFECT[@]}" client --host 10.219.0.2 --port 18211 \
      --big --log "$IMP/network-loss.client.jsonl"
    imperfect_stop
    ip netns exec wssniff-imp-c iptables -L INPUT -n -v -x >"$IMP/network-loss.iptables.txt"
    stop_bg
    ip netns del wssniff-imp-c
    ip netns del wssniff-imp-s
  else
    warn "iptables unavailable: skipping network-loss.pcap"
  fi
fi

# ------------------------------------------------------------------ versions
# (only on a full run, so VERSIONS.txt always describes every capture)
[[ -n $ONLY ]] || {
  echo "# Tool versions used by samples/generate.sh for the captures in this folder"
  echo "generated: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "kernel: $(uname -sr)"
  echo "tcpdump: $(tcpdump --version 2>&1 | sed -n 1p)"
  echo "libpcap: $(tcpdump --version 2>&1 | sed -n 2p)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "curl: $(curl --version | sed -n 1p)"
  echo "python: $("$PY" --version 2>&1)"
  echo "python websockets: $("$PY" -c 'import websockets; print(websockets.__version__)')"
  echo "python aiohttp: $("$PY" -c 'import aiohttp; print(aiohttp.__version__)')"
  echo "node: $(node --version)"
  echo "node ws: $(node -p "require('$GEN/node_modules/ws/package.json').version")"
  if command -v editcap >/dev/null; then
    echo "editcap: $(editcap -h 2>&1 | grep -m1 Editcap)"
  fi
} >VERSIONS.txt

# ------------------------------------------------------------------ summary
if command -v tshark >/dev/null; then
  log "summary (tshark: HTTP request/status lines per file)"
  for f in *.pcap *.pcapng; do
    [[ -e $f ]] || continue
    printf '%s:' "$f"
    timeout 30 tshark -r "$f" -Y 'http.request or http.response' \
      -T fields -e http.request.method -e http.response.code 2>/dev/null | tr -s '\t\n' '  ' || true
    echo
  done
fi

if ((${#FAILED[@]})); then
  die "scenarios with a failed client: ${FAILED[*]}"
fi
log "done"

#!/usr/bin/env bash
# Records the Engine.IO / Socket.IO captures in samples/ (engineio-*.pcap) from real
# implementations on the loopback interface: node socket.io 4.8 with socket.io-client 4.8
# and 2.5 (Engine.IO v3), python-socketio with aiohttp, nginx round robin in front of two
# backends, a server patched to leave the probe unanswered, and https/wss with a key log. What the client library logged is kept as samples/expected/NAME.pcap.client.log
# (tests/it/engineio.rs checks wssniff's reading against it). Run as root on Debian:
#
#     sudo samples/generate-engineio.sh          # all scenarios
#     sudo samples/generate-engineio.sh sticky   # only scenarios whose name contains "sticky"
#
# Installs what is missing (tcpdump, nginx-light, openssl, nodejs/npm with samples/gen/eio's
# packages, python3-venv with python-socketio and aiohttp in samples/gen/.venv-eio), listens
# on 127.0.0.1 ports 18301-18399 only, and kills every process it started (by pid) on exit.
# Every wait is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN=$HERE/gen
ONLY=${1:-}
WORK=$(mktemp -d /tmp/wssniff-eio-samples.XXXXXX)
PIDS=()
CAP_PID=

# log, warn, die, kill_pid
source "$GEN/lib.sh"

cleanup() {
  local pid
  [[ -n $CAP_PID ]] && kill_pid "$CAP_PID" INT
  for pid in "${PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill_pid "$pid"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[[ $(id -u) -eq 0 ]] || die "run as root (tcpdump needs it)"

missing=()
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v nginx   >/dev/null || missing+=(nginx-light)
command -v tshark  >/dev/null || missing+=(tshark)
command -v openssl >/dev/null || missing+=(openssl)
command -v node    >/dev/null || missing+=(nodejs)
command -v npm     >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3 python3-venv)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [[ ! -d $GEN/eio/node_modules/socket.io ]]; then
  log "npm install in $GEN/eio"
  (cd "$GEN/eio" && timeout 300 npm install --no-audit --no-fund -q)
fi
# EIO_PY: a python that has them already (the venv is made otherwise).
PY=${EIO_PY:-$GEN/.venv-eio/bin/python}
if ! "$PY" -c 'import socketio, aiohttp, hypercorn' 2>/dev/null; then
  log "creating $GEN/.venv-eio (python-socketio, aiohttp, hypercorn)"
  rm -rf "$GEN/.venv-eio"
  python3 -m venv "$GEN/.venv-eio"
  PY=$GEN/.venv-eio/bin/python
  timeout 300 "$PY" -m pip install -q python-socketio aiohttp hypercorn
fi
EIO=(node "$GEN/eio/eio.js")
PYEIO=("$PY" "$GEN/eio/pyeio.py")

bg() {  # bg NAME CMD...: a background process, bounded to 60 s
  local name=$1; shift
  timeout -s TERM 60 "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}

stop_all() {  # the scenario's servers
  local pid
  for pid in "${PIDS[@]}"; do kill_pid "$pid"; done
  PIDS=()
}

# client NAME CMD...: runs a client (bounded), its log kept as expected/NAME.pcap.client.log
client() {
  local name=$1; shift
  timeout -s TERM 20 "$@" | tee "expected/$name.pcap.client.log" >&2 || true
}

nginx_start() {  # nginx_start LISTEN A B BALANCE UPGRADE
  local listen=$1 prefix=$WORK/nginx-$1
  mkdir -p "$prefix"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN_PORT@|$listen|g" -e "s|@UPSTREAM_A@|$2|g" \
      -e "s|@UPSTREAM_B@|$3|g" -e "s|@BALANCE@|$4|g" -e "s|@UPGRADE@|$5|g" \
      "$GEN/nginx-eio.conf.tmpl" >"$prefix/nginx.conf"
  bg "nginx-$listen" nginx -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf"
  wait_listen "$listen"
}

want() {  # want NAME: false if filtered out by $1
  [[ -z $ONLY || $1 == *"$ONLY"* ]] || return 1
  log "$1"
}

UPGRADE_LINES='proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";'
cd "$HERE"
mkdir -p expected

# A clean session: open over polling, upgrade to websocket (probe, upgrade packet), a
# Socket.IO event with its ack, server pings every 300 ms, the client's disconnect.
if want engineio-polling-upgrade; then
  bg server "${EIO[@]}" server --port 18301 --ping-interval 300 --ping-timeout 200 --lifetime 20
  wait_listen 18301
  cap_start engineio-polling-upgrade.pcap 'tcp port 18301'
  client engineio-polling-upgrade "${EIO[@]}" client --url http://127.0.0.1:18301 --hold 1000 --token s3cret-token
  cap_stop; stop_all
fi

# websocket-only transport: the open packet arrives in the first WebSocket message.
if want engineio-websocket-only; then
  bg server "${EIO[@]}" server --port 18303 --ping-interval 300 --ping-timeout 200 --lifetime 20
  wait_listen 18303
  cap_start engineio-websocket-only.pcap 'tcp port 18303'
  client engineio-websocket-only "${EIO[@]}" client --url http://127.0.0.1:18303 --transports websocket --hold 800
  cap_stop; stop_all
fi

# A server with the websocket transport off (`transports: ['polling']`): its open packet
# offers `upgrades: []`, and the client (both transports allowed) stays on polling.
if want engineio-no-upgrades; then
  bg server "${EIO[@]}" server --port 18304 --no-upgrades --ping-interval 300 --ping-timeout 200 --lifetime 20
  wait_listen 18304
  cap_start engineio-no-upgrades.pcap 'tcp port 18304'
  client engineio-no-upgrades "${EIO[@]}" client --url http://127.0.0.1:18304 --hold 1000
  cap_stop; stop_all
fi

# The sticky-session failure: nginx round robin over two backends without ip_hash; the poll
# after the open lands on the other backend, which answers 400 Session ID unknown.
if want engineio-sticky-400; then
  bg a "${EIO[@]}" server --port 18312 --lifetime 20
  bg b "${EIO[@]}" server --port 18313 --lifetime 20
  wait_listen 18312; wait_listen 18313
  nginx_start 18311 18312 18313 "" "$UPGRADE_LINES"
  cap_start engineio-sticky-400.pcap 'tcp port 18311 or tcp port 18312 or tcp port 18313'
  client engineio-sticky-400 "${EIO[@]}" client --url http://127.0.0.1:18311 --transports polling --hold 1500 --no-reconnect
  cap_stop; stop_all
fi

# The same failure with python-socketio (aiohttp) backends and its client: python-engineio
# answers the stray poll 400 with a plain-text body (`"Invalid session SID"`, a JSON string,
# Content-Type text/plain), not engine.io's `{"code":1,...}`.
if want engineio-python-sticky-400; then
  bg a "${PYEIO[@]}" server --port 18315 --lifetime 20
  bg b "${PYEIO[@]}" server --port 18316 --lifetime 20
  wait_listen 18315; wait_listen 18316
  nginx_start 18314 18315 18316 "" "$UPGRADE_LINES"
  cap_start engineio-python-sticky-400.pcap 'tcp port 18314 or tcp port 18315 or tcp port 18316'
  # (python-engineio's client warnings go to stderr: kept in the log too)
  timeout -s TERM 20 "${PYEIO[@]}" client --url http://127.0.0.1:18314 --transports polling --hold 1.5 2>&1 |
    tee expected/engineio-python-sticky-400.pcap.client.log >&2 || true
  cap_stop; stop_all
fi

# The same with ip_hash: every request of the client reaches one backend.
if want engineio-sticky-iphash-ok; then
  bg a "${EIO[@]}" server --port 18322 --lifetime 20
  bg b "${EIO[@]}" server --port 18323 --lifetime 20
  wait_listen 18322; wait_listen 18323
  nginx_start 18321 18322 18323 "ip_hash;" "$UPGRADE_LINES"
  cap_start engineio-sticky-iphash-ok.pcap 'tcp port 18321 or tcp port 18322 or tcp port 18323'
  client engineio-sticky-iphash-ok "${EIO[@]}" client --url http://127.0.0.1:18321 --hold 1000
  cap_stop; stop_all
fi

# The silent fallback: nginx does not pass Upgrade on (its default), the websocket attempt
# is refused with 400, and the client goes on over polling without a word.
if want engineio-silent-fallback; then
  bg a "${EIO[@]}" server --port 18332 --ping-interval 400 --ping-timeout 300 --lifetime 20
  wait_listen 18332
  nginx_start 18331 18332 18332 "ip_hash;" ""
  cap_start engineio-silent-fallback.pcap 'tcp port 18331 or tcp port 18332'
  client engineio-silent-fallback "${EIO[@]}" client --url http://127.0.0.1:18331 --hold 1200
  cap_stop; stop_all
fi

# An Engine.IO v3 client (socket.io-client 2.5) against a v4 server: 400 Unsupported
# protocol version; and against one with allowEIO3: a v3 session (client pings).
if want engineio-v3-rejected; then
  bg server "${EIO[@]}" server --port 18341 --lifetime 20
  wait_listen 18341
  cap_start engineio-v3-rejected.pcap 'tcp port 18341'
  client engineio-v3-rejected "${EIO[@]}" client --url http://127.0.0.1:18341 --v2 --hold 600 --no-reconnect
  cap_stop; stop_all
fi
if want engineio-v3-allowed; then
  bg server "${EIO[@]}" server --port 18342 --allow-eio3 --ping-interval 300 --ping-timeout 200 --lifetime 20
  wait_listen 18342
  cap_start engineio-v3-allowed.pcap 'tcp port 18342'
  client engineio-v3-allowed "${EIO[@]}" client --url http://127.0.0.1:18342 --v2 --hold 1000
  cap_stop; stop_all
fi

# Namespace auth rejection: the server's middleware refuses, CONNECT_ERROR 44{"message":…};
# the CONNECT carries a token (redacted in every output).
if want engineio-auth-rejected; then
  bg server "${EIO[@]}" server --port 18351 --reject-auth --lifetime 20
  wait_listen 18351
  cap_start engineio-auth-rejected.pcap 'tcp port 18351'
  client engineio-auth-rejected "${EIO[@]}" client --url http://127.0.0.1:18351 --token s3cret-token --hold 600 --no-reconnect
  cap_stop; stop_all
fi

# Ping timeout: the client process is stopped (SIGSTOP) after the upgrade, so it never
# answers the server's pings; the server closes after pingInterval + pingTimeout.
if want engineio-ping-timeout; then
  bg server "${EIO[@]}" server --port 18361 --ping-interval 300 --ping-timeout 200 --lifetime 20
  wait_listen 18361
  cap_start engineio-ping-timeout.pcap 'tcp port 18361'
  # Not under timeout(1): SIGSTOP must reach node itself (its --hold timer and the exit trap
  # bound it).
  "${EIO[@]}" client --url http://127.0.0.1:18361 --hold 3000 \
    >"expected/engineio-ping-timeout.pcap.client.log" 2>&1 &
  cpid=$!
  PIDS+=($cpid)
  for i in $(seq 50); do grep -q 'client upgrade' "expected/engineio-ping-timeout.pcap.client.log" && break; sleep 0.1; done
  kill -STOP "$cpid"
  sleep 1.5
  cap_stop
  kill -CONT "$cpid" 2>/dev/null || true
  stop_all
  cat "$WORK/server.log" >"expected/engineio-ping-timeout.pcap.server.log"
fi

# The other side of a heartbeat timeout: the python-socketio server process is stopped
# (SIGSTOP) once the client is on websocket, so no more pings come; the client gives up
# after pingInterval + pingTimeout (python-engineio: "Server has stopped communicating")
# and closes the WebSocket. The server is to blame, not the client.
if want engineio-server-frozen; then
  # Not under timeout(1): SIGSTOP must reach python itself (--lifetime and the exit trap
  # bound it).
  # Whole seconds: python-engineio announces int(pingInterval) (0.3 would read as 0).
  "${PYEIO[@]}" server --port 18362 --ping-interval 1 --ping-timeout 1 --lifetime 20 \
    >"$WORK/server.log" 2>&1 &
  spid=$!
  PIDS+=($spid)
  wait_listen 18362
  cap_start engineio-server-frozen.pcap 'tcp port 18362'
  log_file=expected/engineio-server-frozen.pcap.client.log
  timeout -s TERM 20 "${PYEIO[@]}" client --url http://127.0.0.1:18362 --hold 4.0 >"$log_file" 2>&1 &
  cpid=$!
  PIDS+=($cpid)
  for i in $(seq 50); do grep -q 'client upgrade' "$log_file" && break; sleep 0.1; done
  # After the first ping and its pong; the client waits 2 s from that ping.
  sleep 1.3
  kill -STOP "$spid"
  sleep 2.5
  cap_stop
  kill -CONT "$spid" 2>/dev/null || true
  wait "$cpid" || true
  stop_all
  cat "$log_file" >&2
fi

# python-socketio with aiohttp on both ends. python-engineio announces int(0.4 s) = 0 as
# pingInterval, so its client expects a message within pingTimeout alone and gives up
# after 0.3 s (a heartbeat timeout wssniff reports, blamed on the server's announcement).
if want engineio-python-aiohttp; then
  bg server "${PYEIO[@]}" server --port 18371 --ping-interval 0.4 --ping-timeout 0.3 --lifetime 20
  wait_listen 18371
  cap_start engineio-python-aiohttp.pcap 'tcp port 18371'
  client engineio-python-aiohttp "${PYEIO[@]}" client --url http://127.0.0.1:18371 --hold 1.0
  cap_stop; stop_all
fi

# The probe never answered: a socket.io server patched (eio.js --drop-probe) to let the
# upgrade through (101) and never answer 2probe, then to close that WebSocket after 1 s as
# engine.io's upgradeTimeout would; the client logs the upgradeError and stays on polling.
# The server's log is kept too: it says which packets it read and left unanswered.
if want engineio-probe-unanswered; then
  bg server "${EIO[@]}" server --port 18381 --ping-interval 300 --ping-timeout 200 --drop-probe 1000 --lifetime 20
  wait_listen 18381
  cap_start engineio-probe-unanswered.pcap 'tcp port 18381'
  client engineio-probe-unanswered "${EIO[@]}" client --url http://127.0.0.1:18381 --hold 2500
  cap_stop; stop_all
  cat "$WORK/server.log" >"expected/engineio-probe-unanswered.pcap.server.log"
fi

# Engine.IO over TLS (https polling, then wss): the clean upgrade of engineio-polling-upgrade
# with a throwaway self-signed certificate; the client's key log (node --tls-keylog) is kept
# as engineio-wss.keys, so `wssniff -r engineio-wss.pcap --keylog engineio-wss.keys` reads
# the session through decryption.
if want engineio-wss; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$WORK/localhost.key" -out "$WORK/localhost.pem" 2>/dev/null
  bg server "${EIO[@]}" server --port 18391 --ping-interval 300 --ping-timeout 200 \
    --tls "$WORK/localhost.pem,$WORK/localhost.key" --lifetime 20
  wait_listen 18391
  rm -f engineio-wss.keys
  cap_start engineio-wss.pcap 'tcp port 18391'
  client engineio-wss node --tls-keylog="$HERE/engineio-wss.keys" "$GEN/eio/eio.js" client \
    --url https://localhost:18391 --ca "$WORK/localhost.pem" --hold 1000
  cap_stop; stop_all
fi

# Two sessions one after the other (issue 14: a session is written when it ends, not at the
# end of the capture): a polling-only client connects, emits, and disconnects (a close
# packet over polling); 12 s later, past the 10 s wssniff waits after a close, a second
# client opens over polling and upgrades to websocket. Both clients' logs, in order.
if want engineio-two-sessions; then
  bg server "${EIO[@]}" server --port 18392 --ping-interval 300 --ping-timeout 200 --lifetime 30
  wait_listen 18392
  cap_start engineio-two-sessions.pcap 'tcp port 18392'
  client engineio-two-sessions "${EIO[@]}" client --url http://127.0.0.1:18392 --transports polling --hold 500
  mv expected/engineio-two-sessions.pcap.client.log "$WORK/first-client.log"
  sleep 12
  client engineio-two-sessions "${EIO[@]}" client --url http://127.0.0.1:18392 --hold 800
  cat "$WORK/first-client.log" expected/engineio-two-sessions.pcap.client.log >"$WORK/both.log"
  mv "$WORK/both.log" expected/engineio-two-sessions.pcap.client.log
  cap_stop; stop_all
fi

# Engine.IO over HTTP/2: headless Firefox ESR loads a page (gen/eio/page) using
# socket.io-client's browser bundle from python-socketio's ASGI app under hypercorn over
# TLS (ALPN h2; hypercorn's SETTINGS enable extended CONNECT, RFC 8441). The polls are GET
# and POST streams of one h2 connection, their bodies in DATA frames; the upgrade is an
# extended CONNECT on the same connection. Firefox trusts a throwaway local CA through a
# fresh profile's NSS database (certutil) and writes its key log (SSLKEYLOGFILE) to
# NAME.keys; the page's console lines (Firefox prints them with
# devtools.console.stdout.content) are the client's log, hypercorn's access log and the
# server's events NAME.pcap.server.log. tshark's decrypted HTTP/2 view (HEADERS and DATA per
# stream) is kept as NAME.pcap.tshark-h2.tsv.
# - engineio-h2-firefox-fallback: python-engineio as it is refuses the extended CONNECT (it
#   looks for an Upgrade header, which HTTP/2 has not: "Invalid transport", sent by
#   hypercorn as 403) and the session stays on polling;
# - engineio-h2-firefox: the same with an ASGI wrapper adding that header (pyeio.py
#   --upgrade-header): answered 200, probe, upgrade, pings over the h2 WebSocket.
# Then node's socket.io 4 attached to node's HTTP/2 server, http2.createSecureServer({allowHTTP1:
# true}) (eio.js h2server, as socket.io's documentation shows it), the same page and bundle.
# engine.io takes WebSockets only from HTTP/1.1 `upgrade` events:
# - engineio-h2-node: node sends no SETTINGS_ENABLE_CONNECT_PROTOCOL, so Firefox polls over
#   the page's h2 connection and opens its WebSocket on a second, HTTP/1.1 TLS connection
#   (ALPN http/1.1, allowHTTP1): one session across both connections;
# - engineio-h2-node-connect: node started with enableConnectProtocol (eio.js
#   --connect-protocol): Firefox asks for the WebSocket as an extended CONNECT on the h2
#   connection, which engine.io does not take as an upgrade.
# Their HTTP/1.1 part is also kept as NAME.pcap.tshark-http-ws.tsv (below).
EIO_H2_SAMPLES=(engineio-h2-firefox-fallback engineio-h2-firefox engineio-h2-node engineio-h2-node-connect)
eio_h2_wanted() {
  local n
  for n in "${EIO_H2_SAMPLES[@]}"; do [[ -z $ONLY || $n == *"$ONLY"* ]] && return 0; done
  return 1
}
if eio_h2_wanted; then
  command -v firefox-esr >/dev/null && command -v certutil >/dev/null ||
    die "engineio-h2-firefox* need firefox-esr and certutil (apt-get install firefox-esr libnss3-tools)"
  ca=$WORK/ca.pem
  local_ca "$WORK"
  mkdir -p "$WORK/page"
  cp "$GEN/eio/page/index.html" "$GEN/eio/node_modules/socket.io-client/dist/socket.io.min.js" "$WORK/page/"
  : >"$WORK/page/favicon.ico"
  eio_firefox() {  # eio_firefox NAME PORT asgi|node [pyeio.py asgi or eio.js h2server options...]
    local name=$1 port=$2 kind=$3 profile=$WORK/firefox-$1 ff i
    shift 3
    firefox_profile "$profile" "$ca" 'user_pref("devtools.console.stdout.content", true);'
    if [[ $kind == node ]]; then
      bg "server-$name" "${EIO[@]}" h2server --port "$port" --ping-interval 1000 --ping-timeout 1000 \
        --lifetime 40 --cert "$WORK/leaf.pem" --key "$WORK/leaf.key" --page "$WORK/page" "$@"
    else
      EIO_DEBUG=1 bg "server-$name" "${PYEIO[@]}" asgi --port "$port" --ping-interval 1 --ping-timeout 1 \
        --lifetime 40 --cert "$WORK/leaf.pem" --key "$WORK/leaf.key" --page "$WORK/page" "$@"
    fi
    wait_listen "$port"
    rm -f "$name.keys"
    cap_start "$name.pcap" "tcp port $port"
    SSLKEYLOGFILE=$HERE/$name.keys MOZ_HEADLESS=1 timeout -s TERM 40 \
      firefox-esr --headless --no-remote --profile "$profile" "https://localhost:$port/" \
      >"$WORK/firefox-$name.log" 2>&1 &
    ff=$!
    PIDS+=($ff)
    # "server disconnect: …" (pyeio.py), "server:PORT disconnect: …" (eio.js).
    for i in $(seq 200); do grep -qE 'server(:[0-9]+)? disconnect' "$WORK/server-$name.log" && break; sleep 0.1; done
    sleep 1
    kill_pid "$ff"
    cap_stop
    grep -qE 'server(:[0-9]+)? disconnect' "$WORK/server-$name.log" ||
      { cat "$WORK/firefox-$name.log" "$WORK/server-$name.log" >&2; die "$name: the page's session did not end"; }
    grep -o 'client .*' "$WORK/firefox-$name.log" | sed 's/"$//; s/\\"/"/g' \
      | tee "expected/$name.pcap.client.log" >&2
    grep -v '^ \|^Traceback\|^transport:\|^ssl.SSLError\|^Unhandled exception' "$WORK/server-$name.log" \
      >"expected/$name.pcap.server.log" || true
    stop_all
    chmod 644 "$name.keys"
    tshark -r "$name.pcap" -o "tls.keylog_file:$name.keys" \
      -Y 'http2.type == 0 || http2.type == 1' -T fields -E separator=/t -e frame.number \
      -e http2.streamid -e http2.type -e http2.flags -e http2.header.name -e http2.header.value \
      -e http2.data.data 2>/dev/null >"$WORK/$name.tshark-h2.tsv"
    # Only the Engine.IO streams (the page and the bundle are not of interest).
    awk -F'\t' 'NR == FNR { if ($6 ~ /EIO=/) { split($2, s, ","); eio[s[1]] = 1 } next }
      { split($2, s, ","); if (s[1] in eio) print }' \
      "$WORK/$name.tshark-h2.tsv" "$WORK/$name.tshark-h2.tsv" >"expected/$name.pcap.tshark-h2.tsv"
    [[ -s expected/$name.pcap.tshark-h2.tsv ]] || die "$name: tshark decrypted nothing"
  }
  if want engineio-h2-firefox-fallback; then
    eio_firefox engineio-h2-firefox-fallback 18394 asgi
  fi
  if [[ -z $ONLY || engineio-h2-firefox == *"$ONLY"* ]]; then
    log engineio-h2-firefox
    eio_firefox engineio-h2-firefox 18393 asgi --upgrade-header
  fi
  if want engineio-h2-node-connect; then
    eio_firefox engineio-h2-node-connect 18396 node --connect-protocol
  fi
  if [[ -z $ONLY || engineio-h2-node == *"$ONLY"* ]]; then
    log engineio-h2-node
    eio_firefox engineio-h2-node 18395 node
  fi
fi

# Captures that start mid-session (the handshake and the polls are not in them), cut from
# engineio-polling-upgrade.pcap as a capture started late would have them: from the 2probe
# on (the probe, its answer, the upgrade packet, a Socket.IO event and its ack, pings), and
# from the first ping on (only `2`/`3` pings and pongs, then the disconnect `41`). wssniff
# must tell Engine.IO by the frames alone and say so.
if want engineio-mid-session; then
  [[ -s engineio-polling-upgrade.pcap ]] || die "engineio-mid-session-* are cut from engineio-polling-upgrade.pcap"
  editcap -r engineio-polling-upgrade.pcap engineio-mid-session-probe.pcap 35-61
  editcap -r engineio-polling-upgrade.pcap engineio-mid-session-pings.pcap 44-61
fi

# tshark's view of each capture (it decodes HTTP and WebSocket, not Engine.IO), which
# tests/it/engineio.rs checks wssniff's Engine.IO reading against: HTTP bodies of the
# Engine.IO requests and responses, then WebSocket text payloads.
# A capture with a key log (NAME.keys) is read decrypted.
for pcap in engineio-*.pcap; do
  [[ -z $ONLY || $pcap == *"$ONLY"* ]] || continue
  [[ $pcap == engineio-h2-firefox* ]] && continue  # HTTP/2 only: NAME.pcap.tshark-h2.tsv above
  keys=()
  [[ -f ${pcap%.pcap}.keys ]] && keys=(-o "tls.keylog_file:${pcap%.pcap}.keys")
  # Without the handshake tshark reads WebSocket only when told the port speaks it.
  [[ $pcap == engineio-mid-session-* ]] && keys+=(-d tcp.port==18301,websocket)
  {
    tshark -r "$pcap" "${keys[@]}" -Y 'http.request.uri contains "EIO=" || http.response_for.uri contains "EIO="' \
      -T fields -E separator=/t -e frame.number -e http.request.method -e http.response.code \
      -e http.file_data 2>/dev/null | sed 's/^/http\t/'
    tshark -r "$pcap" "${keys[@]}" -Y 'websocket.payload.text' -T fields -E separator=/t \
      -e frame.number -e websocket.payload.text 2>/dev/null | sed 's/^/ws\t/'
  } >"expected/$pcap.tshark-http-ws.tsv"
  # engineio-h2-node-connect has no HTTP/1.1 part.
  [[ -s expected/$pcap.tshark-http-ws.tsv ]] || rm -f "expected/$pcap.tshark-http-ws.tsv"
done

{
  echo "# Tool versions used by samples/generate-engineio.sh"
  echo "generated: $(date -u +%FT%TZ)"
  echo "node: $(node --version)"
  for p in socket.io socket.io-client socket.io-client-v2; do
    echo "npm $p: $(node -p "require('$GEN/eio/node_modules/$p/package.json').version")"
  done
  echo "python-socketio: $("$PY" -c 'import importlib.metadata as m; print(m.version("python-socketio"))')"
  echo "python-engineio: $("$PY" -c 'import importlib.metadata as m; print(m.version("python-engineio"))')"
  echo "aiohttp: $("$PY" -c 'import importlib.metadata as m; print(m.version("aiohttp"))')"
  echo "nginx: $(nginx -v 2>&1)"
  echo "tcpdump: $(tcpdump --version 2>&1 | head -1)"
  echo "hypercorn: $("$PY" -c 'import importlib.metadata as m; print(m.version("hypercorn"))')"
  command -v firefox-esr >/dev/null && echo "firefox: $(firefox-esr --version 2>/dev/null | tail -1)"
  echo "tshark: $(tshark --version 2>/dev/null | head -1)"
} >VERSIONS-engineio.txt
log "done"

#!/usr/bin/env bash
# Records the HTTP/2 (RFC 8441 extended CONNECT) captures in samples/ from real traffic on
# the loopback interface, and tshark's HTTP/2 header dissection of each next to the expected
# outputs (samples/expected/NAME.pcap.tshark.tsv), which tests/it/h2.rs checks wssniff's
# decoded headers against. Run as root on Debian (12/13 tested):
#
#     sudo samples/generate-h2.sh             # all scenarios
#     sudo samples/generate-h2.sh hypercorn   # only scenarios whose name contains "hypercorn"
#
# Installs what is missing (tcpdump, tshark, openssl, haproxy, python3-venv; hypercorn and h2 in
# samples/gen/.venv-h2), listens on 127.0.0.1 ports 18201-18227 only, and kills every
# process it started (by pid) on exit. Every wait is bounded. The TLS captures (ALPN h2) go
# to samples/h2tls/ with the key log their client wrote next to each (NAME.keys) and tshark's
# decrypted view of their HEADERS (NAME.tshark.tsv) and DATA frames (NAME.tshark-data.tsv);
# the Chromium ones need `chromium` (scripts/setup-debian installs it) and are skipped, saying
# so, without it; the Firefox ones need `firefox-esr` and `libnss3-tools`, which the script
# installs for them only (CI replays the committed captures and needs neither).
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
command -v openssl >/dev/null || missing+=(openssl)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v python3 >/dev/null || missing+=(python3 python3-venv)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# WSSNIFF_H2_PYTHON: a python with hypercorn and h2 already installed (else the venv below).
PY=${WSSNIFF_H2_PYTHON:-$GEN/.venv-h2/bin/python}
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

# tshark's view of every HEADERS frame: packet, stream, names, values (comma-joined).
dissect() {  # dissect PCAP PORT...
  local pcap=$1 args=() port
  shift
  for port in "$@"; do args+=(-d "tcp.port==$port,http2"); done
  tshark -r "$pcap" "${args[@]}" -Y 'http2.type == 1' -T fields -E separator=/t \
    -e frame.number -e http2.streamid -e http2.header.name -e http2.header.value \
    2>/dev/null >"expected/$pcap.tshark.tsv"
}

# The same for a TLS capture decrypted with its key log (ALPN says h2), written next to it,
# and its DATA frames: packet, source port, then type, stream and length of every HTTP/2
# frame in the packet (comma-joined, in order).
dissect_tls() {  # dissect_tls h2tls/NAME
  local base=$1
  tshark -r "$base.pcap" -o "tls.keylog_file:$base.keys" -Y 'http2.type == 1' -T fields \
    -E separator=/t -e frame.number -e http2.streamid -e http2.header.name \
    -e http2.header.value 2>/dev/null >"$base.tshark.tsv"
  tshark -r "$base.pcap" -o "tls.keylog_file:$base.keys" -Y 'http2.type == 0' -T fields \
    -E separator=/t -e frame.number -e tcp.srcport -e http2.type -e http2.streamid \
    -e http2.length 2>/dev/null >"$base.tshark-data.tsv"
  [[ -s $base.tshark.tsv ]] || die "tshark decrypted no HEADERS in $base.pcap"
}

# Every HTTP/2 frame of a capture as tshark sees it, one row per packet: packet, time, source
# port, TCP RST flag, then per frame (comma-joined, in order) type, stream, flags, then the
# RST_STREAM error codes, the GOAWAY's error code and last stream id, and the SETTINGS
# parameter ids, each list only for the frames that have one.
FRAME_FIELDS=(-T fields -E separator=/t -e frame.number -e frame.time_epoch -e tcp.srcport
  -e tcp.flags.reset -e http2.type -e http2.streamid -e http2.flags -e http2.rst_stream.error
  -e http2.goaway.error -e http2.goaway.last_stream_id -e http2.settings.id)
dissect_frames() {  # dissect_frames PCAP PORT: to expected/PCAP.tshark-frames.tsv
  tshark -r "$1" -d "tcp.port==$2,http2" -Y 'http2 or tcp.flags.reset == 1' "${FRAME_FIELDS[@]}" \
    2>/dev/null >"expected/$1.tshark-frames.tsv"
}
dissect_tls_frames() {  # dissect_tls_frames h2tls/NAME: decrypted, to h2tls/NAME.tshark-frames.tsv
  tshark -r "$1.pcap" -o "tls.keylog_file:$1.keys" -Y 'http2 or tcp.flags.reset == 1' \
    "${FRAME_FIELDS[@]}" 2>/dev/null >"$1.tshark-frames.tsv"
}

want() {  # want NAME: false if filtered out by $1
  [[ -z $ONLY || $1 == *"$ONLY"* ]] || return 1
  log "$1"
}

cd "$HERE"

# hypercorn serving an ASGI WebSocket echo over h2c (prior knowledge): one connection with
# two WebSocket streams whose client ends each with END_STREAM on its Close, and one whose
# client resets the stream with CANCEL after both Close frames (what Chromium 156 and Firefox
# 153 do against hypercorn, which does not end its side: h2tls/).
if want h2c-hypercorn-ok; then
  bg hypercorn "${H2WS[@]}" hypercorn --port 18201 --lifetime 30
  wait_listen 18201
  cap_start h2c-hypercorn-ok.pcap 'tcp port 18201'
  timeout 10 "${H2WS[@]}" client --port 18201 --streams 2 --ending end_stream
  timeout 10 "${H2WS[@]}" client --port 18201 --ending cancel
  cap_stop
  dissect h2c-hypercorn-ok.pcap 18201
fi

# h2c by Upgrade (RFC 7540 §3.2): the client's GET / with `Upgrade: h2c` and HTTP2-Settings,
# hypercorn's 101, then HTTP/2 on the same connection (the upgraded GET is stream 1, answered
# with the page) and the WebSocket as an extended CONNECT on stream 3. tshark follows the
# upgrade on its own (no -d: the connection starts as HTTP/1.1).
if want h2c-upgrade-hypercorn; then
  bg hypercorn-upgrade "${H2WS[@]}" hypercorn --port 18206 --lifetime 30
  wait_listen 18206
  cap_start h2c-upgrade-hypercorn.pcap 'tcp port 18206'
  timeout 10 "${H2WS[@]}" client --port 18206 --upgrade 2>&1 | tee "$WORK/upgrade-client.log" >&2
  cap_stop
  grep -q "upgrade: HTTP/1.1 101" "$WORK/upgrade-client.log" || die "hypercorn did not switch to h2c"
  grep -q "stream 3: status 200" "$WORK/upgrade-client.log" || die "no 200 to the CONNECT on stream 3"
  dissect h2c-upgrade-hypercorn.pcap
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

# node's own http2 on both ends (enableConnectProtocol on the server; gen/nodeh2.js does the
# RFC 6455 framing): one WebSocket stream, the client ending its side with its Close.
if want h2c-node-http2 && command -v node >/dev/null; then
  bg nodeh2 node "$GEN/nodeh2.js" server --port 18205 --lifetime 30
  wait_listen 18205
  cap_start h2c-node-http2.pcap 'tcp port 18205'
  timeout 10 node "$GEN/nodeh2.js" client --port 18205
  cap_stop
  dissect h2c-node-http2.pcap 18205
elif want h2c-node-http2; then
  warn "node not installed: h2c-node-http2 not recorded"
fi

# A capture that starts mid-connection: h2c-hypercorn-ok without its first nine packets (the
# handshake, the preface and SETTINGS both ways), so HTTP/2 is known only by its frames and the
# HPACK tables start empty where the sender's were not.
if want h2c-mid-connection; then
  [[ -s h2c-hypercorn-ok.pcap ]] || die "h2c-mid-connection is cut from h2c-hypercorn-ok.pcap"
  editcap -r h2c-hypercorn-ok.pcap h2c-mid-connection.pcap 10-30
fi

# Cut later: the capture starts after stream 1's CONNECT and 200 (stream 1 was open before it)
# and before stream 3's CONNECT, whose fields python h2 encoded as references to the HPACK
# table entries stream 1's block made: only :scheme and :path decode.
if want h2c-mid-stream; then
  [[ -s h2c-hypercorn-ok.pcap ]] || die "h2c-mid-stream is cut from h2c-hypercorn-ok.pcap"
  editcap -r h2c-hypercorn-ok.pcap h2c-mid-stream.pcap 12-30
fi

# hypercorn refusing a WebSocket with a body (the ASGI denial response): HEADERS 403, then
# DATA with the reason, over h2c.
if want h2c-hypercorn-403-body; then
  bg hypercorn403 "${H2WS[@]}" hypercorn --port 18203 --lifetime 30
  wait_listen 18203
  cap_start h2c-hypercorn-403-body.pcap 'tcp port 18203'
  timeout 10 "${H2WS[@]}" client --port 18203 --path /refused
  cap_stop
  dissect h2c-hypercorn-403-body.pcap 18203
fi

# HAProxy (2.4+ serves RFC 8441) taking the WebSocket over h2c extended CONNECT from the client
# and speaking a classic HTTP/1.1 Upgrade to hypercorn behind it: two legs of one handshake,
# the h2 leg without a Sec-WebSocket-Key (HAProxy makes one up for the HTTP/1.1 leg). Captures
# with both legs: two WebSocket streams passed through (ok), a backend refusing with a 403 and
# a body (HAProxy relays it), a backend that is down (nothing listens on 18223: HAProxy's
# connects are refused, it retries, then answers 503 itself; for an HTTP/2 CONNECT and for an
# HTTP/1.1 GET, haproxy-h1-backend-down), and the other way round (an
# HTTP/1.1 client, HAProxy speaking extended CONNECT over h2c to hypercorn on 18225). HAProxy's own log (one
# line per request with its termination state) and the client's are kept as
# expected/NAME.pcap.proxy.log and expected/NAME.pcap.client.log.
HAPROXY_SAMPLES=(h2c-haproxy-ok h2c-haproxy-backend-refuses h2c-haproxy-backend-down
  h2c-haproxy-h1-to-h2 haproxy-h1-backend-down)
haproxy_wanted() {  # any of the HAProxy captures asked for (each is filtered on its own)
  local n
  for n in "${HAPROXY_SAMPLES[@]}"; do [[ -z $ONLY || $n == *"$ONLY"* ]] && return 0; done
  return 1
}
if haproxy_wanted && command -v haproxy >/dev/null; then
  HAP=$WORK/haproxy
  mkdir -p "$HAP"
  sed -e "s|@LISTEN_PORT@|18221|g" -e "s|@UPSTREAM_PORT@|18222|g" -e "s|@DOWN_PORT@|18223|g" \
    -e "s|@H1_LISTEN_PORT@|18224|g" -e "s|@H2_UPSTREAM_PORT@|18225|g" \
    "$GEN/haproxy-h2.cfg.tmpl" >"$HAP/haproxy.cfg"
  haproxy -c -q -f "$HAP/haproxy.cfg" || die "haproxy rejected $HAP/haproxy.cfg"
  bg hypercorn-h1-haproxy "${H2WS[@]}" hypercorn --port 18222 --lifetime 50
  bg hypercorn-h2-haproxy "${H2WS[@]}" hypercorn --port 18225 --lifetime 50
  bg haproxy haproxy -db -f "$HAP/haproxy.cfg"
  wait_listen 18222
  wait_listen 18225
  wait_listen 18221
  wait_listen 18224
  haproxy_capture() {  # haproxy_capture NAME LISTEN-PORT H2-PORT|- MODE ARGS...: both legs
    local name=$1 port=$2 h2port=$3 mode=$4 before
    shift 4
    want "$name" || return 0
    before=$(wc -l <"$WORK/haproxy.log")
    cap_start "$name.pcap" "tcp portrange 18221-18225"
    timeout 15 "${H2WS[@]}" "$mode" --port "$port" "$@" 2>&1 | tee "expected/$name.pcap.client.log" >&2
    cap_stop
    tail -n +"$((before + 1))" "$WORK/haproxy.log" >"expected/$name.pcap.proxy.log"
    [[ -s expected/$name.pcap.proxy.log ]] || die "HAProxy logged nothing for $name"
    [[ $h2port == - ]] || dissect "$name.pcap" "$h2port"
  }
  haproxy_capture h2c-haproxy-ok 18221 18221 client --streams 2
  haproxy_capture h2c-haproxy-backend-refuses 18221 18221 client --path /refused
  haproxy_capture h2c-haproxy-backend-down 18221 18221 client --path /down
  # The other way round: the client's HTTP/1.1 Upgrade, extended CONNECT to the backend.
  haproxy_capture h2c-haproxy-h1-to-h2 18224 18225 h1client
  # HAProxy answering a classic GET with Upgrade itself, 503, after its connects to the
  # backend on 18223 were refused (no HTTP/2 in this one: HAProxy never reached the backend).
  haproxy_capture haproxy-h1-backend-down 18224 - h1client --path /down
  grep -q ' 101 .* ----' expected/h2c-haproxy-ok.pcap.proxy.log || die "HAProxy did not pass the upgrade"
  grep -q ' 403 ' expected/h2c-haproxy-backend-refuses.pcap.proxy.log || die "no 403 from the backend"
  grep -q ' 503 .* SC--' expected/h2c-haproxy-backend-down.pcap.proxy.log || die "no 503 SC-- from HAProxy"
  grep -q ' 503 .* SC--' expected/haproxy-h1-backend-down.pcap.proxy.log || die "no 503 SC-- from HAProxy (HTTP/1.1)"
elif haproxy_wanted; then
  warn "haproxy not installed (apt-get install haproxy): h2c-haproxy-* not recorded"
fi


# A real GOAWAY with a WebSocket open: a python h2 client's WebSocket stream through HAProxy
# (h2c; HTTP/1.1 Upgrade to hypercorn behind it), and HAProxy soft-stopped (SIGUSR1, as a
# reload stops the old process) after the first echo. HAProxy sends a graceful GOAWAY
# (NO_ERROR, last stream 2^31-1) and lets the stream finish. h2c-haproxy-goaway-reload
# (18207 → 18208): the client sends a second message on it, gets the echo, closes 1000;
# HAProxy then exits. h2c-haproxy-goaway-hard-stop (18209 → 18210, `hard-stop-after 2s`): the
# client keeps the stream open and idle (`goaway --hold`), and 2 s after the soft stop HAProxy
# kills both legs.
haproxy_goaway() {  # haproxy_goaway NAME LISTEN UPSTREAM GLOBAL-EXTRA CLIENT-ARGS...
  local name=$1 port=$2 upstream=$3 extra=$4 dir hap client i
  shift 4
  dir=$WORK/$name
  mkdir -p "$dir"
  sed -e "s|@LISTEN_PORT@|$port|g" -e "s|@UPSTREAM_PORT@|$upstream|g" \
    -e "s|@GLOBAL_EXTRA@|$extra|g" "$GEN/haproxy-goaway.cfg.tmpl" >"$dir/haproxy.cfg"
  bg "hypercorn-$name" "${H2WS[@]}" hypercorn --port "$upstream" --lifetime 30
  # Not through bg: SIGUSR1 must reach HAProxy itself, not a timeout wrapper.
  haproxy -db -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
  hap=$!
  PIDS+=($hap)
  wait_listen "$upstream"
  wait_listen "$port"
  cap_start "$name.pcap" "tcp port $port or tcp port $upstream"
  timeout 15 "${H2WS[@]}" goaway --port "$port" "$@" >"$dir/client.log" 2>&1 &
  client=$!
  for i in $(seq 50); do grep -q ready "$dir/client.log" && break; sleep 0.1; done
  sleep 0.3
  kill -USR1 "$hap"
  wait "$client" || { cat "$dir/client.log" >&2; die "the GOAWAY client failed"; }
  cap_stop
  cp "$dir/client.log" "expected/$name.pcap.client.log"
  cp "$dir/haproxy.log" "expected/$name.pcap.proxy.log"
  grep -q 'GOAWAY: error 0 (NO_ERROR)' "expected/$name.pcap.client.log" ||
    die "HAProxy sent no graceful GOAWAY ($name)"
  dissect "$name.pcap" "$port"
  dissect_frames "$name.pcap" "$port"
}
if command -v haproxy >/dev/null; then
  if want h2c-haproxy-goaway-reload; then
    haproxy_goaway h2c-haproxy-goaway-reload 18207 18208 ''
    grep -q 'echo after the GOAWAY' expected/h2c-haproxy-goaway-reload.pcap.client.log ||
      die "the stream did not go on after the GOAWAY"
  fi
  if want h2c-haproxy-goaway-hard-stop; then
    haproxy_goaway h2c-haproxy-goaway-hard-stop 18209 18210 'hard-stop-after 2s' --hold
    grep -q 'performing a hard-stop' expected/h2c-haproxy-goaway-hard-stop.pcap.proxy.log ||
      die "HAProxy did not hard-stop"
  fi
elif want h2c-haproxy-goaway; then
  warn "haproxy not installed: h2c-haproxy-goaway-* not recorded"
fi

# An error GOAWAY with a WebSocket open (h2c-haproxy-goaway-protocol-error, 18226 → hypercorn
# 18227): the same HAProxy and client, which after the first echo sends a WINDOW_UPDATE with
# an increment of 0 on stream 0 (a client bug RFC 9113 §6.9 makes a connection error);
# HAProxy answers GOAWAY PROTOCOL_ERROR and ends the connection, and the WebSocket with it.
if command -v haproxy >/dev/null && want h2c-haproxy-goaway-protocol-error; then
  name=h2c-haproxy-goaway-protocol-error
  dir=$WORK/$name
  mkdir -p "$dir"
  sed -e "s|@LISTEN_PORT@|18226|g" -e "s|@UPSTREAM_PORT@|18227|g" -e "s|@GLOBAL_EXTRA@||g" \
    "$GEN/haproxy-goaway.cfg.tmpl" >"$dir/haproxy.cfg"
  bg "hypercorn-$name" "${H2WS[@]}" hypercorn --port 18227 --lifetime 30
  bg "haproxy-$name" haproxy -db -f "$dir/haproxy.cfg"
  wait_listen 18227
  wait_listen 18226
  cap_start "$name.pcap" "tcp port 18226 or tcp port 18227"
  timeout 15 "${H2WS[@]}" violate --port 18226 >"$dir/client.log" 2>&1 ||
    { cat "$dir/client.log" >&2; die "the violating client failed"; }
  sleep 0.3
  cap_stop
  cp "$dir/client.log" "expected/$name.pcap.client.log"
  cp "$WORK/haproxy-$name.log" "expected/$name.pcap.proxy.log"
  grep -q 'GOAWAY: error 1 (PROTOCOL_ERROR)' "expected/$name.pcap.client.log" ||
    die "HAProxy sent no GOAWAY PROTOCOL_ERROR ($name)"
  dissect "$name.pcap" 18226
  dissect_frames "$name.pcap" 18226
elif want h2c-haproxy-goaway-protocol-error; then
  warn "haproxy not installed: h2c-haproxy-goaway-protocol-error not recorded"
fi

# Floods driven through python h2 (gen/h2ws.py flood) against node's http2 server (nghttp2,
# whose limits wssniff's defaults are; port 18204), each on a connection that first opens a
# WebSocket stream: the frames are the attacker's, the server's reaction is the real part.
# rapid-reset: 2000 GETs each cancelled at once (RST_STREAM CANCEL); nghttp2's reset rate
# limit answers GOAWAY. ping / settings: PINGs or empty SETTINGS sent without reading the
# ACKs from a 4 KiB receive buffer, so the ACKs queue at the server; nghttp2 drops the
# connection when they pass 1000. What the client saw is expected/NAME.pcap.client.log.
if command -v node >/dev/null; then
  for kind in rapid-reset ping settings; do
    name=h2c-node-$kind-flood
    [[ $kind == rapid-reset ]] && name=h2c-node-rapid-reset
    want "$name" || continue
    bg "nodeh2-$kind" node "$GEN/nodeh2.js" server --port 18204 --lifetime 20
    wait_listen 18204
    cap_start "$name.pcap" 'tcp port 18204'
    case $kind in rapid-reset) count=2000 ;; ping) count=20000 ;; settings) count=5000 ;; esac
    timeout 15 "${H2WS[@]}" flood --port 18204 --kind "$kind" --count "$count" \
      2>&1 | tee "expected/$name.pcap.client.log" >&2
    cap_stop
    kill_pid "${PIDS[-1]}"
    dissect "$name.pcap" 18204
    dissect_frames "$name.pcap" 18204
  done
else
  want h2c-node-rapid-reset && warn "node not installed: the flood captures not recorded"
fi

# The same floods at hypercorn (python h2 and priority, no flood limits of their own; port
# 18220), whose reaction differs from nghttp2's: under the rapid reset its priority tree
# refuses the 1001st open stream (TooManyStreamsError, kept in expected/NAME.pcap.server.log),
# the connection's task dies and hypercorn closes TCP about a second later, with no GOAWAY and
# no close frame; the PING flood is answered in full and the WebSocket closes cleanly after it.
for kind in rapid-reset ping; do
  name=h2c-hypercorn-$kind
  [[ $kind == ping ]] && name=h2c-hypercorn-ping-flood
  want "$name" || continue
  bg "hypercorn-$kind" "${H2WS[@]}" hypercorn --port 18220 --lifetime 20
  wait_listen 18220
  cap_start "$name.pcap" 'tcp port 18220'
  # 2000 PINGs pass the 1000 unacknowledged (hypercorn answers them all; more only grow the
  # capture).
  count=2000
  timeout 15 "${H2WS[@]}" flood --port 18220 --kind "$kind" --count "$count" \
    2>&1 | tee "expected/$name.pcap.client.log" >&2
  cap_stop
  kill_pid "${PIDS[-1]}"
  grep -h -m1 -o '[A-Za-z.]*Error: .*' "$WORK/hypercorn-$kind.log" \
    >"expected/$name.pcap.server.log" || rm -f "expected/$name.pcap.server.log"
  dissect "$name.pcap" 18220
  dissect_frames "$name.pcap" 18220
done

# ------------------------------------------------------------------ over TLS (ALPN h2)
mkdir -p h2tls
CERT=$WORK/localhost.pem
KEY=$WORK/localhost.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
  -keyout "$KEY" -out "$CERT" 2>/dev/null

# Headless Chromium loading a page from hypercorn over https and opening a WebSocket to the
# same origin: hypercorn's SETTINGS enable extended CONNECT, so Chromium sends it as a stream
# of the page's h2 connection (RFC 8441) and, after both Close frames, resets the stream
# (CANCEL). Chromium writes the key log (--ssl-key-log-file).
if want h2tls-chromium-hypercorn && command -v chromium >/dev/null; then
  bg hypercorn-tls "${H2WS[@]}" hypercorn --port 18211 --lifetime 40 --cert "$CERT" --key "$KEY"
  wait_listen 18211
  rm -f h2tls/h2tls-chromium-hypercorn.keys
  cap_start h2tls/h2tls-chromium-hypercorn.pcap 'tcp port 18211'
  timeout 30 chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors \
    --ssl-key-log-file="$HERE/h2tls/h2tls-chromium-hypercorn.keys" \
    --user-data-dir="$WORK/chromium" --no-first-run --disable-background-networking \
    --virtual-time-budget=5000 --dump-dom https://127.0.0.1:18211/ 2>/dev/null \
    >"$WORK/chromium.dom" || true
  cap_stop
  grep -q 'echo:hello from the browser' "$WORK/chromium.dom" ||
    { cat "$WORK/chromium.dom" >&2; die "Chromium's WebSocket did not get its echo"; }
  chmod 644 h2tls/h2tls-chromium-hypercorn.keys
  dissect_tls h2tls/h2tls-chromium-hypercorn
elif want h2tls-chromium-hypercorn; then
  warn "chromium not installed: h2tls-chromium-hypercorn not recorded"
fi

# The fallback: headless Chromium loads the page from nginx over TLS with HTTP/2, but nginx's
# SETTINGS do not enable extended CONNECT, so Chromium opens the WebSocket on a second TLS
# connection with a classic HTTP/1.1 upgrade, which nginx proxies to hypercorn (HTTP/1.1,
# port 18214; that leg is captured too).
if want h2tls-chromium-nginx-fallback && command -v chromium >/dev/null; then
  prefix=$WORK/nginx-18213
  mkdir -p "$prefix"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN_PORT@|18213|g" -e "s|@UPSTREAM_PORT@|18214|g" \
    -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" -e "s|@HTTP2@| http2|g" \
    "$GEN/nginx-h2-page.conf.tmpl" >"$prefix/nginx.conf"
  bg hypercorn-h1 "${H2WS[@]}" hypercorn --port 18214 --lifetime 40
  bg nginx-18213 nginx -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf"
  wait_listen 18214
  wait_listen 18213
  rm -f h2tls/h2tls-chromium-nginx-fallback.keys
  cap_start h2tls/h2tls-chromium-nginx-fallback.pcap 'tcp port 18213 or tcp port 18214'
  timeout 30 chromium --headless=new --no-sandbox --disable-gpu --ignore-certificate-errors \
    --ssl-key-log-file="$HERE/h2tls/h2tls-chromium-nginx-fallback.keys" \
    --user-data-dir="$WORK/chromium-nginx" --no-first-run --disable-background-networking \
    --virtual-time-budget=5000 --dump-dom https://127.0.0.1:18213/ 2>/dev/null \
    >"$WORK/chromium-nginx.dom" || true
  cap_stop
  grep -q 'echo:hello from the browser' "$WORK/chromium-nginx.dom" ||
    { cat "$WORK/chromium-nginx.dom" >&2; die "Chromium's WebSocket through nginx got no echo"; }
  chmod 644 h2tls/h2tls-chromium-nginx-fallback.keys
  dissect_tls h2tls/h2tls-chromium-nginx-fallback
elif want h2tls-chromium-nginx-fallback; then
  warn "chromium not installed: h2tls-chromium-nginx-fallback not recorded"
fi

# Headless Firefox ESR (`apt-get install firefox-esr libnss3-tools`; not needed to replay the
# samples, only to record these two): a fresh profile whose NSS database trusts a throwaway
# local CA (certutil), which signed the server's certificate, so Firefox connects as it would
# to a real site (no exception, no flag); `network.http.http2.websockets` (RFC 8441, on by
# default since Firefox 65) set explicitly in user.js; the key log from SSLKEYLOGFILE (the
# NSS Firefox bundles honours it). Firefox has no --dump-dom: the script waits for the
# WebSocket server's "websocket closed" line, gives Firefox 3 s to end the stream its own way,
# then stops it (SIGTERM, by pid) and the capture.
FIREFOX_SAMPLES=(h2tls-firefox-hypercorn h2tls-firefox-nginx-fallback)
firefox_wanted() {
  local n
  for n in "${FIREFOX_SAMPLES[@]}"; do [[ -z $ONLY || $n == *"$ONLY"* ]] && return 0; done
  return 1
}
if firefox_wanted && ! command -v firefox-esr >/dev/null; then
  log "installing firefox-esr libnss3-tools (for the Firefox captures only)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    firefox-esr libnss3-tools || warn "could not install firefox-esr"
fi
if firefox_wanted && command -v firefox-esr >/dev/null && command -v certutil >/dev/null; then
  CA=$WORK/ca.pem
  FFCERT=$WORK/leaf.pem
  FFKEY=$WORK/leaf.key
  local_ca "$WORK"
  firefox_capture() {  # firefox_capture NAME URL FILTER SERVER-LOG: Firefox loads URL
    local name=$1 url=$2 filter=$3 serverlog=$4 profile ff i
    profile=$WORK/firefox-$name
    firefox_profile "$profile" "$CA"
    rm -f "h2tls/$name.keys"
    cap_start "h2tls/$name.pcap" "$filter"
    SSLKEYLOGFILE=$HERE/h2tls/$name.keys MOZ_HEADLESS=1 timeout -s TERM 40 \
      firefox-esr --headless --no-remote --profile "$profile" "$url" >"$WORK/$name.firefox.log" 2>&1 &
    ff=$!
    PIDS+=($ff)
    for i in $(seq 300); do
      grep -q 'websocket closed' "$WORK/$serverlog.log" && break
      sleep 0.1
    done
    # (hypercorn hands the app 1006 when the stream ends after the Close frames: the codes
    # themselves are in the capture, checked by tests/it/h2.rs)
    grep -q 'websocket closed: /chat' "$WORK/$serverlog.log" ||
      { cat "$WORK/$name.firefox.log" "$WORK/$serverlog.log" >&2; die "Firefox's WebSocket did not close"; }
    sleep 3
    kill_pid "$ff"
    cap_stop
    chmod 644 "h2tls/$name.keys"
    dissect_tls "h2tls/$name"
    dissect_tls_frames "h2tls/$name"
  }
  # hypercorn's SETTINGS enable extended CONNECT: the WebSocket is a stream of the page's
  # h2 connection.
  if want h2tls-firefox-hypercorn; then
    bg hypercorn-ff "${H2WS[@]}" hypercorn --port 18217 --lifetime 50 --cert "$FFCERT" --key "$FFKEY"
    wait_listen 18217
    firefox_capture h2tls-firefox-hypercorn https://127.0.0.1:18217/ 'tcp port 18217' hypercorn-ff
  fi
  # nginx 1.22 with http2 (no RFC 8441) in front of hypercorn (HTTP/1.1, 18219, captured
  # too): Firefox opens the WebSocket on a second connection with a classic upgrade.
  if want h2tls-firefox-nginx-fallback; then
    prefix=$WORK/nginx-18218
    mkdir -p "$prefix"
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN_PORT@|18218|g" -e "s|@UPSTREAM_PORT@|18219|g" \
      -e "s|@CERT@|$FFCERT|g" -e "s|@KEY@|$FFKEY|g" -e "s|@HTTP2@| http2|g" \
      "$GEN/nginx-h2-page.conf.tmpl" >"$prefix/nginx.conf"
    bg hypercorn-ff-h1 "${H2WS[@]}" hypercorn --port 18219 --lifetime 50
    bg nginx-18218 nginx -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf"
    wait_listen 18219
    wait_listen 18218
    firefox_capture h2tls-firefox-nginx-fallback https://127.0.0.1:18218/ \
      'tcp port 18218 or tcp port 18219' hypercorn-ff-h1
  fi
elif firefox_wanted; then
  warn "firefox-esr or certutil (libnss3-tools) missing: h2tls-firefox-* not recorded"
fi

# The ALPN downgrade: nginx on TLS without HTTP/2, a client offering h2 and http/1.1 by ALPN
# (a browser's list) on one connection; nginx selects http/1.1, so extended CONNECT (RFC 8441)
# is impossible there and the client sends a classic HTTP/1.1 upgrade on the same TLS
# connection, which nginx proxies to hypercorn (HTTP/1.1, port 18216; that leg is captured
# too). nginx 1.22 speaks TLS 1.2 at most by default, so the selection is in the ServerHello;
# the key log decrypts the HTTP. tshark's view (packet, source port, handshake types, ALPN;
# method, path, status) is kept as h2tls/NAME.tshark-alpn.tsv, wssniff's output with the key
# log as h2tls/NAME.jsonl (tests/it/h2.rs; WSSNIFF_BLESS=1 rewrites it).
if want h2tls-alpn-downgrade-nginx; then
  prefix=$WORK/nginx-18215
  mkdir -p "$prefix"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@LISTEN_PORT@|18215|g" -e "s|@UPSTREAM_PORT@|18216|g" \
    -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" -e "s|@HTTP2@||g" \
    "$GEN/nginx-h2-page.conf.tmpl" >"$prefix/nginx.conf"
  bg hypercorn-alpn "${H2WS[@]}" hypercorn --port 18216 --lifetime 30
  bg nginx-18215 nginx -p "$prefix" -e "$prefix/error.log" -c "$prefix/nginx.conf"
  wait_listen 18216
  wait_listen 18215
  rm -f h2tls/h2tls-alpn-downgrade-nginx.keys
  cap_start h2tls/h2tls-alpn-downgrade-nginx.pcap 'tcp port 18215 or tcp port 18216'
  timeout 10 "${H2WS[@]}" h1client --port 18215 --tls --alpn h2,http/1.1 \
    --keylog "$HERE/h2tls/h2tls-alpn-downgrade-nginx.keys" 2>&1 | tee "$WORK/alpn-client.log" >&2
  cap_stop
  grep -q "selected: http/1.1" "$WORK/alpn-client.log" || die "nginx did not select http/1.1"
  grep -q "server close: 1000" "$WORK/alpn-client.log" || die "the upgraded WebSocket did not close"
  chmod 644 h2tls/h2tls-alpn-downgrade-nginx.keys
  tshark -r h2tls/h2tls-alpn-downgrade-nginx.pcap \
    -o "tls.keylog_file:h2tls/h2tls-alpn-downgrade-nginx.keys" \
    -Y 'tls.handshake.extensions_alpn_str or http.request or http.response' -T fields \
    -E separator=/t -e frame.number -e tcp.srcport -e tls.handshake.type \
    -e tls.handshake.extensions_alpn_str -e http.request.method -e http.request.uri \
    -e http.response.code 2>/dev/null >h2tls/h2tls-alpn-downgrade-nginx.tshark-alpn.tsv
  grep -q 101 h2tls/h2tls-alpn-downgrade-nginx.tshark-alpn.tsv || die "tshark decrypted no 101"
fi

# python h2 over TLS (ALPN h2, the key log from ssl's keylog_filename): two WebSocket
# streams on one connection, each ended with END_STREAM on the client's Close.
if want h2tls-python-hypercorn; then
  bg hypercorn-tls2 "${H2WS[@]}" hypercorn --port 18212 --lifetime 30 --cert "$CERT" --key "$KEY"
  wait_listen 18212
  rm -f h2tls/h2tls-python-hypercorn.keys
  cap_start h2tls/h2tls-python-hypercorn.pcap 'tcp port 18212'
  timeout 10 "${H2WS[@]}" client --port 18212 --tls --streams 2 \
    --keylog "$HERE/h2tls/h2tls-python-hypercorn.keys"
  cap_stop
  chmod 644 h2tls/h2tls-python-hypercorn.keys
  dissect_tls h2tls/h2tls-python-hypercorn
fi

# The versions of what recorded these captures (whichever scenarios ran).
{
  echo "# Tool versions used by samples/generate-h2.sh (the h2c-* and h2tls/* captures)"
  echo "generated: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "tcpdump: $(tcpdump --version 2>&1 | head -1)"
  echo "tshark: $(tshark --version 2>/dev/null | head -1)"
  echo "python h2: $("$PY" -c 'import h2; print(h2.__version__)')"
  echo "hypercorn: $("$PY" -m pip show hypercorn 2>/dev/null | sed -n 's/^Version: //p')"
  command -v haproxy >/dev/null && echo "haproxy: $(haproxy -v | head -1)"
  command -v node >/dev/null && echo "node: $(node --version)"
  command -v chromium >/dev/null && echo "chromium: $(chromium --version 2>/dev/null)"
  command -v firefox-esr >/dev/null && echo "firefox: $(firefox-esr --version 2>/dev/null | tail -1)"
  command -v nginx >/dev/null && echo "nginx: $(nginx -v 2>&1)"
} >VERSIONS-h2.txt

log "done; regenerate the expected outputs: WSSNIFF_BLESS=1 cargo test --test it samples"

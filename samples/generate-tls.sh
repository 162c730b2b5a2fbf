#!/usr/bin/env bash
# Records the TLS sample captures in samples/tls/ from real implementations on the
# loopback interface, each with the key log its client or server wrote (NSS key log
# format, FILE.keys next to FILE.pcap) so the same captures serve decryption tests.
# Run as root on Debian (12 tested), like samples/generate.sh:
#
#     sudo samples/generate-tls.sh            # all scenarios
#     sudo samples/generate-tls.sh sni        # only scenarios whose name contains "sni"
#
# Installs what is missing (tcpdump, openssl, curl, python3 + websockets, node + ws,
# tshark for the summary), makes a throwaway self-signed certificate for `localhost`,
# starts servers on 127.0.0.1 ports 18401-18499 only, and kills everything it started on
# exit. Every wait is bounded; a full run takes about a minute.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN=$HERE/gen
OUT=$HERE/tls
ONLY=${1:-}
WORK=$(mktemp -d /tmp/wssniff-tls-samples.XXXXXX)
ALL_PIDS=()
SCEN_PIDS=()
CAP_PID=
FAILED=()

# log, warn, die, kill_pid
source "$(dirname "${BASH_SOURCE[0]}")/gen/lib.sh"

cleanup() {
  local pid
  [[ -n $CAP_PID ]] && kill_pid "$CAP_PID" INT
  for pid in "${ALL_PIDS[@]}"; do kill_pid "$pid"; done
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
command -v openssl >/dev/null || missing+=(openssl)
command -v curl    >/dev/null || missing+=(curl ca-certificates)
command -v python3 >/dev/null || missing+=(python3)
command -v node    >/dev/null || missing+=(nodejs)
command -v npm     >/dev/null || missing+=(npm)
command -v tstclnt >/dev/null || missing+=(libnss3-tools)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

# Python with websockets (the same venv as samples/generate.sh).
PY=${PYTHON:-python3}
if ! "$PY" -c 'import websockets.asyncio.client' 2>/dev/null; then
  if [[ ! -x $GEN/.venv/bin/python ]]; then
    rm -rf "$GEN/.venv"
    "$PY" -m venv "$GEN/.venv" 2>/dev/null || { apt_install python3-venv; "$PY" -m venv "$GEN/.venv"; }
  fi
  PY=$GEN/.venv/bin/python
  "$PY" -c 'import websockets.asyncio.client' 2>/dev/null ||
    timeout 300 "$PY" -m pip install -q 'websockets>=13'
fi
if [[ ! -d $GEN/node_modules/ws ]]; then
  (cd "$GEN" && timeout 300 npm install --no-audit --no-fund --silent)
fi

# ------------------------------------------------------------------ helpers
bg() {  # bg NAME CMD...: a background process, bounded to 90 s
  local name=$1; shift
  timeout -s TERM 90 "$@" >"$WORK/$name.log" 2>&1 &
  ALL_PIDS+=($!)
  SCEN_PIDS+=($!)
}

stop_bg() {
  local pid
  for pid in "${SCEN_PIDS[@]}"; do kill_pid "$pid"; done
  SCEN_PIDS=()
}

run() {  # run SECONDS CMD...: a foreground client, bounded; failure is recorded
  local t=$1; shift
  if ! timeout -s TERM "$t" "$@"; then
    warn "client failed or timed out: $*"
    FAILED+=("$CURRENT")
  fi
}

try() {  # try SECONDS CMD...: a foreground client that is expected to fail, bounded
  local t=$1; shift
  timeout -s TERM "$t" "$@" || true
}

CURRENT=
want() {  # want NAME: announce a scenario; false if filtered out by $1
  CURRENT=$1
  [[ -z $ONLY || $1 == *"$ONLY"* ]] || return 1
  log "$1"
  rm -f "$OUT/$1.keys"
  touch "$OUT/$1.keys"
}

s_server() {  # s_server PORT KEYLOG [options]: openssl's test server, bounded
  local port=$1 keys=$2
  shift 2
  bg "s_server-$port" openssl s_server -accept "127.0.0.1:$port" -cert "$CERT" -key "$KEY" \
    -keylogfile "$keys" -quiet "$@"
  wait_listen "$port"
}

mkdir -p "$OUT"
CERT=$WORK/localhost.pem
KEY=$WORK/localhost.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
  -keyout "$KEY" -out "$CERT" 2>/dev/null
PYTLS=("$PY" "$GEN/pytls.py")
NODETLS=(node "$GEN/nodetls.js")
CURL=(curl -sS --max-time 3 --noproxy '*' -o /dev/null)

# ------------------------------------------------------------------ scenarios
# wss:// from the libraries issue 12 names, TLS 1.3 and 1.2: the WebSocket handshake and its
# frames are inside; the key log is the client's (keylog_filename / node's keylog event).
for v in 1.3 1.2; do
  name=tls${v/./}-wss-python-ok
  if want "$name"; then
    port=$((18401 + ${v/./} % 10))
    bg srv "${PYTLS[@]}" server --port "$port" --cert "$CERT" --key "$KEY" --tls "$v"
    wait_listen "$port"
    cap_start "$OUT/$name.pcap" "tcp port $port"
    run 10 "${PYTLS[@]}" client --url "wss://localhost:$port/chat" --cafile "$CERT" \
      --tls "$v" --keylog "$OUT/$name.keys"
    cap_stop
    stop_bg
  fi
done

if want tls13-wss-node-ok; then
  bg srv "${NODETLS[@]}" server 18411 "$CERT" "$KEY" "$WORK/node-server.keys"
  wait_listen 18411
  cap_start "$OUT/tls13-wss-node-ok.pcap" 'tcp port 18411'
  run 10 "${NODETLS[@]}" client wss://localhost:18411/chat "$CERT" "$OUT/tls13-wss-node-ok.keys"
  cap_stop
  stop_bg
fi

# A client that rejects a self-signed certificate: Python's asyncio client closes the
# connection without sending its alert (TLS 1.2 and 1.3 alike).
for v in 1.3 1.2; do
  name=tls${v/./}-self-signed-rejected
  if want "$name"; then
    port=$((18421 + ${v/./} % 10))
    bg srv "${PYTLS[@]}" server --port "$port" --cert "$CERT" --key "$KEY" --tls "$v"
    wait_listen "$port"
    cap_start "$OUT/$name.pcap" "tcp port $port"
    run 10 "${PYTLS[@]}" client --url "wss://localhost:$port/chat" --tls "$v" \
      --keylog "$OUT/$name.keys" --expect-fail
    cap_stop
    stop_bg
  fi
done

# curl (OpenSSL) rejecting the same self-signed certificate does send its alert
# (unknown_ca): in plaintext with TLS 1.2, encrypted with TLS 1.3.
for v in 1.3 1.2; do
  name=tls${v/./}-curl-unknown-ca
  if want "$name"; then
    port=$((18425 + ${v/./} % 10))
    s_server "$port" "$WORK/server.keys" "-tls${v/./_}" -www
    cap_start "$OUT/$name.pcap" "tcp port $port"
    SSLKEYLOGFILE=$OUT/$name.keys try 5 "${CURL[@]}" "https://localhost:$port/"
    cap_stop
    stop_bg
  fi
done

# A server that rejects the SNI (openssl s_server -servername_fatal): unrecognized_name in
# plaintext, before any key exists, in both versions.
for v in 1.3 1.2; do
  name=tls${v/./}-sni-rejected
  if want "$name"; then
    port=$((18431 + ${v/./} % 10))
    s_server "$port" "$OUT/$name.keys" -servername localhost -servername_fatal \
      -cert2 "$CERT" -key2 "$KEY" "-tls${v/./_}" -www
    cap_start "$OUT/$name.pcap" "tcp port $port"
    SSLKEYLOGFILE=$WORK/curl.keys try 5 "${CURL[@]}" -k --resolve "wrong.example:$port:127.0.0.1" \
      "https://wrong.example:$port/"
    cap_stop
    stop_bg
  fi
done

# ALPN: curl offering h2 then http/1.1 to a server that speaks both (TLS 1.2, so the
# selected protocol is visible), and the same over TLS 1.3 (selected protocol encrypted).
for v in 1.2 1.3; do
  name=tls${v/./}-curl-alpn-h2-http11
  if want "$name"; then
    port=$((18441 + ${v/./} % 10))
    s_server "$port" "$WORK/server.keys" -alpn h2,http/1.1 "-tls${v/./_}" -www
    cap_start "$OUT/$name.pcap" "tcp port $port"
    # s_server -www does not speak HTTP/2: the h2 client gives up after 1 s.
    SSLKEYLOGFILE=$OUT/$name.keys try 5 "${CURL[@]}" -k --max-time 1 --http2 "https://localhost:$port/"
    sleep 0.2
    SSLKEYLOGFILE=$OUT/$name.keys run 5 "${CURL[@]}" -k --http1.1 "https://localhost:$port/"
    cap_stop
    stop_bg
  fi
done

# A server accepting only h2, a node client offering only http/1.1: no_application_protocol.
if want tls13-alpn-rejected; then
  bg srv "${NODETLS[@]}" server 18451 "$CERT" "$KEY" "$WORK/node-server.keys" h2
  wait_listen 18451
  cap_start "$OUT/tls13-alpn-rejected.pcap" 'tcp port 18451'
  run 10 "${NODETLS[@]}" client wss://localhost:18451/chat "$CERT" "$OUT/tls13-alpn-rejected.keys" \
    http/1.1 expect-fail
  cap_stop
  stop_bg
fi

# A TLS 1.2 client that reads the certificate and closes without an alert.
if want tls12-client-gave-up; then
  s_server 18461 "$OUT/tls12-client-gave-up.keys" -tls1_2 -www
  cap_start "$OUT/tls12-client-gave-up.pcap" 'tcp port 18461'
  run 5 "${PYTLS[@]}" give-up --port 18461 --sni localhost
  cap_stop
  stop_bg
fi

# TLS 1.3 HelloRetryRequest: the client's first key share (X25519) is not the server's
# group (P-256); openssl s_client with -keylogfile, to s_server -www.
if want tls13-openssl-hrr; then
  s_server 18471 "$WORK/server.keys" -tls1_3 -groups P-256 -www
  cap_start "$OUT/tls13-openssl-hrr.pcap" 'tcp port 18471'
  printf 'GET / HTTP/1.0\r\n\r\n' | run 5 openssl s_client -connect 127.0.0.1:18471 \
    -servername localhost -groups X25519:P-256 -keylogfile "$OUT/tls13-openssl-hrr.keys" \
    -ign_eof -quiet >/dev/null 2>&1
  cap_stop
  stop_bg
fi

# TLS 1.2 resumption: two wss:// connections, the second an abbreviated handshake reusing
# the first's master secret, by session ticket (RFC 5077, the server's default) and by
# session id (the server sends no tickets). FILE.keys holds the first connection's line
# only (as from a stack that logs none for a resumed session): the resumed connection
# decrypts through the master secret remembered from the first.
for how in ticket session-id; do
  name=tls12-resumed-$how
  if want "$name"; then
    port=$((18481 + ${#how} % 10))
    extra=()
    [[ $how == session-id ]] && extra=(--no-ticket)
    bg srv "${PYTLS[@]}" server --port "$port" --cert "$CERT" --key "$KEY" --tls 1.2 "${extra[@]}"
    wait_listen "$port"
    cap_start "$OUT/$name.pcap" "tcp port $port"
    run 10 "${PYTLS[@]}" resume --port "$port" --cafile "$CERT" --keylog "$OUT/$name.keys" \
      --keylog2 "$WORK/$name-resumed.keys"
    cap_stop
    stop_bg
  fi
done

# TLS 1.3 0-RTT: openssl s_client resumes a session with the WebSocket upgrade request as
# early data (-early_data, CLIENT_EARLY_TRAFFIC_SECRET); openssl s_server -early_data
# accepts it and answers the 101 it reads from its stdin (no WebSocket library on Debian
# speaks 0-RTT: Python's ssl and node's tls have no early-data API). The first connection,
# which only fetches the session ticket, is not captured; the key log is the client's.
if want tls13-early-data; then
  port=18475
  mkfifo "$WORK/s_server.in"
  exec 7<>"$WORK/s_server.in"
  timeout -s TERM 30 openssl s_server -accept "127.0.0.1:$port" -cert "$CERT" -key "$KEY" \
    -keylogfile "$WORK/server.keys" -tls1_3 -early_data <&7 >"$WORK/s_server-$port.log" 2>&1 &
  ALL_PIDS+=($!)
  SCEN_PIDS+=($!)
  wait_listen "$port"
  (printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1) | run 5 openssl s_client -connect "127.0.0.1:$port" \
    -servername localhost -tls1_3 -sess_out "$WORK/session.pem" >/dev/null 2>&1
  printf 'GET /chat HTTP/1.1\r\nHost: localhost:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' \
    "$port" >"$WORK/upgrade.txt"
  # Waits in the pipe until the next connection's handshake is done, after its early data.
  printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n' >&7
  cap_start "$OUT/tls13-early-data.pcap" "tcp port $port"
  sleep 1 | run 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost -tls1_3 \
    -sess_in "$WORK/session.pem" -early_data "$WORK/upgrade.txt" \
    -keylogfile "$OUT/tls13-early-data.keys" >"$WORK/early-client.log" 2>&1
  grep -q 'Early data was accepted' "$WORK/early-client.log" || {
    warn "the server did not accept the early data"
    FAILED+=("$CURRENT")
  }
  cap_stop
  stop_bg
  exec 7>&-
fi

# An expired certificate (valid January 2025 only, made with `openssl ca -startdate
# -enddate`), TLS 1.2 so it is visible: curl trusting it as its CA still rejects it
# (certificate_expired alert), then curl -k goes on anyway.
if want tls12-expired-certificate; then
  mkdir -p "$WORK/ca"
  : >"$WORK/ca/index.txt"
  echo 01 >"$WORK/ca/serial"
  printf '[ca]\ndefault_ca = c\n[c]\ndir = %s/ca\ndatabase = $dir/index.txt\nnew_certs_dir = $dir\nserial = $dir/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\n' \
    "$WORK" >"$WORK/ca.cnf"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -keyout "$WORK/expired.key" \
    -out "$WORK/expired.csr" 2>/dev/null
  openssl ca -batch -config "$WORK/ca.cnf" -selfsign -keyfile "$WORK/expired.key" \
    -in "$WORK/expired.csr" -out "$WORK/expired.pem" \
    -startdate 20250101000000Z -enddate 20250201000000Z >/dev/null 2>&1
  port=18477
  bg "s_server-$port" openssl s_server -accept "127.0.0.1:$port" -cert "$WORK/expired.pem" \
    -key "$WORK/expired.key" -keylogfile "$OUT/tls12-expired-certificate.keys" -quiet -tls1_2 -www
  wait_listen "$port"
  cap_start "$OUT/tls12-expired-certificate.pcap" "tcp port $port"
  SSLKEYLOGFILE=$WORK/curl.keys try 5 "${CURL[@]}" --cacert "$WORK/expired.pem" "https://localhost:$port/"
  sleep 0.2
  run 5 "${CURL[@]}" -k "https://localhost:$port/"
  cap_stop
  stop_bg
fi

# wss:// through a forward proxy: Python websockets' client asks an HTTP CONNECT proxy
# (samples/gen/connect_proxy.py) for a tunnel and runs TLS inside it. Only the client ↔
# proxy leg is captured: CONNECT, 200, then the TLS session end to end.
if want tls13-wss-connect-proxy; then
  bg srv "${PYTLS[@]}" server --port 18488 --cert "$CERT" --key "$KEY" --tls 1.3
  wait_listen 18488
  bg proxy "$PY" "$GEN/connect_proxy.py" --port 18489
  wait_listen 18489
  cap_start "$OUT/tls13-wss-connect-proxy.pcap" 'tcp port 18489'
  run 10 "${PYTLS[@]}" client --url wss://localhost:18488/chat --cafile "$CERT" --tls 1.3 \
    --sni localhost --proxy http://127.0.0.1:18489 --keylog "$OUT/tls13-wss-connect-proxy.keys"
  cap_stop
  stop_bg
fi

# A real Encrypted Client Hello (RFC 9849, draft-13 wire format): NSS's tstclnt (libnss3-tools,
# 3.87 in Debian 12) given an ECHConfigList (an X25519 key openssl makes, public_name
# localhost) encrypts its inner ClientHello, whose SNI is inner.example, under HPKE; the
# outer ClientHello names localhost. OpenSSL 3.0's s_server has no ECH: it answers the outer
# hello, so the client, having verified the certificate for the public name and found no
# retry_configs, finishes the handshake and aborts with ech_required (RFC 9849 §6.1.6).
# No server installable here accepts ECH (OpenSSL 3.0, GnuTLS 3.7, Go 1.19, node, Python's
# ssl have none; NSS's selfserv -X fails to load its ECH key in 3.87), so no sample shows
# an accepted one. The key log is the server's (Debian's NSS writes no SSLKEYLOGFILE).
if want tls13-ech-rejected; then
  openssl genpkey -algorithm X25519 -out "$WORK/ech.key" 2>/dev/null
  ECHCONFIGS=$(openssl pkey -in "$WORK/ech.key" -pubout -outform DER 2>/dev/null | tail -c 32 |
    python3 -c '
import base64, struct, sys
pk, name = sys.stdin.buffer.read(), b"localhost"
u16 = lambda b: struct.pack(">H", len(b)) + b
# ECHConfigContents: config_id, KEM X25519, the key, suite HKDF-SHA256/AES-128-GCM,
# maximum_name_length, public_name, no extensions.
contents = bytes([7]) + struct.pack(">H", 0x20) + u16(pk) + u16(struct.pack(">HH", 1, 1)) \
    + bytes([0, len(name)]) + name + u16(b"")
print(base64.b64encode(u16(struct.pack(">H", 0xFE0D) + u16(contents))).decode())')
  mkdir -p "$WORK/nssdb"
  certutil -N -d "sql:$WORK/nssdb" --empty-password
  s_server 18491 "$OUT/tls13-ech-rejected.keys" -tls1_3 -www
  cap_start "$OUT/tls13-ech-rejected.pcap" 'tcp port 18491'
  # -o: take the self-signed certificate; tstclnt then fails with ECH_RETRY_WITHOUT_ECH.
  try 5 tstclnt -d "sql:$WORK/nssdb" -h 127.0.0.1 -p 18491 -a inner.example -V tls1.3:tls1.3 \
    -N "$ECHCONFIGS" -o </dev/null >"$WORK/tstclnt.log" 2>&1
  grep -q ECH_RETRY_WITHOUT_ECH "$WORK/tstclnt.log" || {
    warn "tstclnt did not offer ECH: $(cat "$WORK/tstclnt.log")"
    FAILED+=("$CURRENT")
  }
  cap_stop
  stop_bg
fi

# ------------------------------------------------------------------ versions, summary
[[ -n $ONLY ]] || {
  echo "# Tool versions used by samples/generate-tls.sh for the captures in this folder"
  echo "generated: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "tcpdump: $(tcpdump --version 2>&1 | sed -n 1p)"
  echo "openssl: $(openssl version)"
  echo "curl: $(curl --version | sed -n 1p)"
  echo "python: $("$PY" --version 2>&1), websockets $("$PY" -c 'import websockets; print(websockets.__version__)')"
  echo "node: $(node --version), ws $(node -p "require('$GEN/node_modules/ws/package.json').version")"
  echo "nss: $(dpkg-query -W -f '${Version}' libnss3 2>/dev/null) (tstclnt)"
} >"$OUT/VERSIONS.txt"

if command -v tshark >/dev/null; then
  log "summary (tshark: SNI, version, cipher, alerts)"
  for f in "$OUT"/*.pcap; do
    printf '%s: ' "$(basename "$f")"
    timeout 30 tshark -r "$f" -Y 'tls.handshake.type == 1 || tls.handshake.type == 2 || tls.alert_message' \
      -T fields -e tls.handshake.extensions_server_name -e tls.handshake.type -e tls.alert_message.desc 2>/dev/null |
      tr -s '\t\n' '  ' || true
    echo
  done
fi

if ((${#FAILED[@]})); then
  die "scenarios with a failed client: ${FAILED[*]}"
fi

# Shell helpers shared by the sample-recording scripts (samples/generate*.sh): messages,
# stopping the processes a script started, waiting for a listener, and the loopback capture
# (tcpdump on ${CAP_IF:-lo}, into $WORK). Sourced, never run.

log()  { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[33mWARNING: %s\033[0m\n' "$*" >&2; }
die()  { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

kill_pid() {  # kill_pid PID [SIGNAL]: signal, wait up to 3 s, then SIGKILL
  local pid=$1 sig=${2:-TERM} i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -s "$sig" "$pid" 2>/dev/null || true
  for i in $(seq 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

wait_listen() {  # wait_listen PORT: until something LISTENs on tcp PORT (v4 or v6)
  local port hex i
  port=$1
  hex=$(printf ':%04X' "$port")
  for i in $(seq 100); do
    if awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK"/*.log >&2 || true
  die "nothing listening on port $port after 10 s"
}

cap_start() {  # cap_start OUTFILE FILTER [extra tcpdump options...]
  local out=$1 filter=$2 i
  shift 2
  : >"$WORK/tcpdump.err"
  rm -f "$out"
  tcpdump -i "${CAP_IF:-lo}" -U --immediate-mode -Z root "$@" -w "$out" "$filter" 2>"$WORK/tcpdump.err" &
  CAP_PID=$!
  ALL_PIDS+=($CAP_PID)
  for i in $(seq 100); do
    grep -q 'listening on' "$WORK/tcpdump.err" && break
    kill -0 "$CAP_PID" 2>/dev/null || { cat "$WORK/tcpdump.err" >&2; die "tcpdump exited"; }
    sleep 0.1
  done
  grep -q 'listening on' "$WORK/tcpdump.err" || die "tcpdump not ready after 10 s"
  sleep 0.3
}

cap_stop() {
  sleep 0.5
  kill_pid "$CAP_PID" INT
  CAP_PID=
  sleep 0.3
  grep -h 'packets captured' "$WORK/tcpdump.err" >&2 || true
}

# firefox_profile DIR CA [PREF-LINE...]: a fresh Firefox profile in DIR that trusts CA (certutil
# from libnss3-tools), allows WebSockets over HTTP/2 (RFC 8441) and makes no connection of its
# own (telemetry, updates, captive portal, prefetch), so a capture holds only what the page does.
# Extra `user_pref(...)` lines are appended.
firefox_profile() {
  local profile=$1 ca=$2
  shift 2
  mkdir -p "$profile"
  certutil -N -d "sql:$profile" --empty-password
  certutil -A -n 'wssniff sample CA' -t C,, -i "$ca" -d "sql:$profile"
  cat >"$profile/user.js" <<'PREFS'
user_pref("network.http.http2.websockets", true);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.update.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.http.speculative-parallel-limit", 0);
PREFS
  local line
  for line in "$@"; do
    printf '%s\n' "$line" >>"$profile/user.js"
  done
}

# local_ca DIR: a throwaway CA (DIR/ca.pem, ca.key) and a leaf for localhost and 127.0.0.1
# signed by it (DIR/leaf.pem, leaf.key), P-256, for servers a browser must trust.
local_ca() {
  local dir=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj '/CN=wssniff sample CA' -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$dir/leaf.key" -out "$dir/leaf.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$dir/leaf.ext"
  openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 365 -extfile "$dir/leaf.ext" -out "$dir/leaf.pem" 2>/dev/null
}

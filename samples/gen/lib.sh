# Shell helpers shared by the sample-recording scripts (samples/generate*.sh): messages and
# stopping the processes a script started. Sourced, never run.

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

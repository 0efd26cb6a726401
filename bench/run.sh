#!/usr/bin/env bash
# relight against lighttpd 1.4 and nginx on one machine, in one run, with the same C libfcgi
# backend and the same number of backend processes; writes bench/RESULTS.md.
#
#   bench/run.sh                     # every scenario, 3 rounds of 5 s load runs
#   ROUNDS=5 DURATION=10 bench/run.sh  # longer
#
# The load scenarios run in rounds, every setup in turn within a round, so that a slow spell
# of the (shared, noisy) machine hits all setups alike; the report gives each setup's median
# round, and every round's req/s beside it.
#
# Installs what it needs from Debian (wrk, lighttpd, nginx-light, spawn-fcgi, multiwatch,
# libfcgi-dev, gcc), builds relight and fcgi-app's hello example in release mode (the profile
# users ship: opt-level 2, fat LTO, one codegen unit, stripped), and runs on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION="${DURATION:-5}"
ROUNDS="${ROUNDS:-3}"
PROCS="${PROCS:-2}"
CONNS=32

PKGS=(gcc libc6-dev libfcgi-dev wrk lighttpd lighttpd-mod-openssl nginx-light spawn-fcgi multiwatch python3 curl openssl nghttp2-client valgrind apache2-utils)
. scripts/debian-packages.sh
ensure_packages bench "${PKGS[@]}"

W=$(mktemp -d /tmp/relight-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT

echo "bench: building (release)"
cargo build -q --release -p relight --bin relight
cargo build -q --release -p fcgi-app --example hello
RELIGHT="$ROOT/target/release/relight"
# For their sizes: the build for devices short of flash (profile "small", opt-level "s"), with
# the default features and without the optional ones (TLS, HTTP/2, compression).
cargo build -q --profile small -p relight --bin relight
SMALL_SIZE=$(stat -c %s "$ROOT/target/small/relight")
cargo build -q --profile small -p relight --bin relight --no-default-features --target-dir "$ROOT/target/minimal"
MINIMAL_SIZE=$(stat -c %s "$ROOT/target/minimal/small/relight")
APP_HELLO="$ROOT/target/release/examples/hello"
cc -O2 -o "$W/backend" bench/backend.c -lfcgi
BACKEND="$W/backend"

mkdir -p "$W/www"
head -c 1024 /dev/urandom >"$W/www/1k.bin"
head -c 65536 /dev/urandom >"$W/www/64k.bin"
head -c 1048576 /dev/urandom >"$W/www/1m.bin"
head -c 1048576 /dev/zero | tr '\0' 'a' >"$W/post.body"
printf 'wrk.headers["Connection"] = "close"\n' >"$W/close.lua"
cat >"$W/post.lua" <<EOF
wrk.method = "POST"
local f = io.open("$W/post.body", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

PORT_RELIGHT=18901
PORT_LIGHTTPD=18902
PORT_NGINX_RELIGHT=18903
PORT_NGINX_SPAWNFCGI=18904
PORT_RELIGHT_2T=18906
# HTTPS (and HTTP/2 by ALPN) listeners of the same processes.
PORT_RELIGHT_TLS=18921
PORT_LIGHTTPD_TLS=18922
PORT_NGINX_TLS=18923
# One certificate for all (ECDSA P-256, as a device would make today).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$W/tls.key" -out "$W/tls.crt" 2>/dev/null
cat "$W/tls.crt" "$W/tls.key" >"$W/tls.pem"

# A C CGI program (what a device's UI runs), and an upstream service for the proxies: an
# nginx that answers /up/ itself.
PORT_UPSTREAM=18930
mkdir -p "$W/www/cgi-bin"
printf '#include <stdio.h>\nint main(void){fputs("Content-Type: text/plain\\n\\nHello from CGI\\n",stdout);return 0;}\n' >"$W/cgi.c"
cc -O2 -o "$W/www/cgi-bin/hello.cgi" "$W/cgi.c"
cat >"$W/nginx-upstream.conf" <<EOF
worker_processes 1;
error_log $W/nginx-upstream-error.log;
pid $W/nginx-upstream.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/nginx-upstream-cb;
  proxy_temp_path $W/nginx-upstream-pt;
  fastcgi_temp_path $W/nginx-upstream-ft;
  uwsgi_temp_path $W/nginx-upstream-ut;
  scgi_temp_path $W/nginx-upstream-st;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$PORT_UPSTREAM;
    location /up/ { return 200 "Hello from upstream\n"; }
  }
}
EOF

# ---- the servers -------------------------------------------------------------------------
cat >"$W/relight.toml" <<EOF
[server]
listen = ["127.0.0.1:$PORT_RELIGHT"]
document_root = "$W/www"
error_log = "$W/relight-error.log"

[[fastcgi]]
name = "backend"
match = ["/fcgi"]
command = ["$BACKEND"]
socket = "$W/relight.sock"
procs = $PROCS

[[tls]]
listen = ["127.0.0.1:$PORT_RELIGHT_TLS"]
certificate = "$W/tls.crt"
key = "$W/tls.key"

[[cgi]]
match = ["/cgi-bin/"]

[[proxy]]
name = "up"
match = ["/up/"]
upstreams = ["127.0.0.1:$PORT_UPSTREAM"]

# The ceiling: the same body as the backend's hello, answered by relight itself.
[[answer]]
path = "/raw/hello"
body = "Hello from libfcgi"
EOF
# The same with a work-stealing runtime on two threads (the default is one thread).
sed -e "s|127.0.0.1:$PORT_RELIGHT\"|127.0.0.1:$PORT_RELIGHT_2T\"|; s|relight.sock|relight-2t.sock|; s|relight-error.log|relight-2t-error.log|" \
  -e "/^\[\[tls\]\]/,/^key/d" \
  -e 's|^listen = |threads = 2\nlisten = |' "$W/relight.toml" >"$W/relight-2t.toml"

cat >"$W/lighttpd.conf" <<EOF
server.modules = ( "mod_fastcgi", "mod_openssl", "mod_cgi", "mod_proxy" )
server.document-root = "$W/www"
server.port = $PORT_LIGHTTPD
server.bind = "127.0.0.1"
server.errorlog = "$W/lighttpd-error.log"
\$SERVER["socket"] == "127.0.0.1:$PORT_LIGHTTPD_TLS" {
  ssl.engine = "enable"
  ssl.pemfile = "$W/tls.pem"
}
fastcgi.server = ( "/fcgi" => (( "bin-path" => "$BACKEND", "socket" => "$W/lighttpd.sock",
                                 "max-procs" => $PROCS, "check-local" => "disable" )) )
\$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = ( "" => "" ) }
proxy.server = ( "/up/" => (( "host" => "127.0.0.1", "port" => $PORT_UPSTREAM )) )
EOF

nginx_conf() { # port socket name [tls port]
  cat >"$W/nginx-$3.conf" <<EOF
user root;
worker_processes $PROCS;
error_log $W/nginx-$3-error.log;
pid $W/nginx-$3.pid;
events { worker_connections 4096; }
http {
  access_log off;
  # As Debian's /etc/nginx/nginx.conf.
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $W/nginx-$3-cb;
  fastcgi_temp_path $W/nginx-$3-ft;
  proxy_temp_path $W/nginx-$3-pt;
  uwsgi_temp_path $W/nginx-$3-ut;
  scgi_temp_path $W/nginx-$3-st;
  client_max_body_size 0;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$1;
    ${4:+listen 127.0.0.1:$4 ssl http2;}
    ${4:+ssl_certificate $W/tls.crt;}
    ${4:+ssl_certificate_key $W/tls.key;}
    root $W/www;
    location /fcgi {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:$2;
    }
    location /up/ {
      proxy_pass http://upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
  upstream upstream {
    server 127.0.0.1:$PORT_UPSTREAM;
    keepalive 32;
  }
}
EOF
}
nginx_conf $PORT_NGINX_RELIGHT "$W/spawn.sock" relight $PORT_NGINX_TLS
nginx_conf $PORT_NGINX_SPAWNFCGI "$W/spawnfcgi.sock" spawnfcgi

wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench: nothing listens on $1" >&2
  exit 1
}

start() { # name command...
  local name=$1
  shift
  setsid "$@" >"$W/$name.out" 2>&1 &
  PIDS+=($!)
  eval "PID_${name//[-+]/_}=$!"
}

start relight "$RELIGHT" -D -f "$W/relight.toml"
start relight_2t "$RELIGHT" -D -f "$W/relight-2t.toml"
start lighttpd lighttpd -D -f "$W/lighttpd.conf"
start spawn "$RELIGHT" spawn --procs "$PROCS" --socket "$W/spawn.sock" -- "$BACKEND"
start spawnfcgi spawn-fcgi -n -s "$W/spawnfcgi.sock" -- /usr/bin/multiwatch -f "$PROCS" -- "$BACKEND"
for _ in $(seq 1 100); do [ -S "$W/spawn.sock" ] && [ -S "$W/spawnfcgi.sock" ] && break; sleep 0.05; done
start nginx_upstream nginx -g "daemon off;" -c "$W/nginx-upstream.conf"
start nginx_relight nginx -g "daemon off;" -c "$W/nginx-relight.conf"
start nginx_spawnfcgi nginx -g "daemon off;" -c "$W/nginx-spawnfcgi.conf"
for p in $PORT_RELIGHT $PORT_LIGHTTPD $PORT_NGINX_RELIGHT $PORT_NGINX_SPAWNFCGI $PORT_RELIGHT_2T $PORT_UPSTREAM \
  $PORT_RELIGHT_TLS $PORT_LIGHTTPD_TLS $PORT_NGINX_TLS; do wait_port "$p"; done
sleep 1
# Memory at rest, before any request.
IDLE_RELIGHT=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID_relight/status")
IDLE_LIGHTTPD=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID_lighttpd/status")

# The processes of each setup: the front end's, and the backends'.
front_pids() { # setup
  case $1 in
    relight | "relight (no backend)" | "relight https") echo "$PID_relight" ;;
    "relight threads=2") echo "$PID_relight_2t" ;;
    lighttpd | "lighttpd https") echo "$PID_lighttpd" ;;
    nginx+relight | "nginx+relight https") pgrep -g "$PID_nginx_relight" -d ' ' nginx ;;
    nginx+spawn-fcgi) pgrep -g "$PID_nginx_spawnfcgi" -d ' ' nginx ;;
  esac
}
backend_pids() { # setup
  local group
  case $1 in
    relight | "relight (no backend)" | "relight https") group=$PID_relight ;;
    "relight threads=2") group=$PID_relight_2t ;;
    lighttpd | "lighttpd https") group=$PID_lighttpd ;;
    nginx+relight | "nginx+relight https") group=$PID_spawn ;;
    nginx+spawn-fcgi) group=$PID_spawnfcgi ;;
  esac
  # Spawned backends run in their own process groups under relight; find them by parent.
  pgrep -f "^$BACKEND" -d ' ' | tr ' ' '\n' | while read -r p; do
    [ -n "$p" ] || continue
    local pp
    pp=$(ps -o ppid= -p "$p" | tr -d ' ')
    local gp
    gp=$(ps -o ppid= -p "$pp" 2>/dev/null | tr -d ' ')
    if [ "$pp" = "$group" ] || [ "$gp" = "$group" ] || [ "$(ps -o pgid= -p "$p" | tr -d ' ')" = "$group" ]; then
      echo -n "$p "
    fi
  done
}
cpu_ticks() { # pids... → "user system" clock ticks, summed
  local u=0 k=0
  for p in "$@"; do
    local t
    t=$(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo "0 0")
    u=$((u + ${t% *}))
    k=$((k + ${t#* }))
  done
  echo "$u $k"
}
# per_request TICKS_BEFORE TICKS_AFTER REQUESTS → "user sys" µs of CPU per request
per_request() {
  awk -v b="$1" -v a="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(b, x, " "); split(a, y, " ");
    if (n > 0) printf "%.1f %.1f", (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) * 1e6 / hz / n; else print "- -" }'
}
rss_kib() { # pids...
  local t=0
  for p in "$@"; do
    local r
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    t=$((t + ${r:-0}))
  done
  echo "$t"
}
port_of() {
  case $1 in
    relight | "relight (no backend)") echo $PORT_RELIGHT ;;
    "relight threads=2") echo $PORT_RELIGHT_2T ;;
    lighttpd) echo $PORT_LIGHTTPD ;;
    nginx+relight) echo $PORT_NGINX_RELIGHT ;;
    nginx+spawn-fcgi) echo $PORT_NGINX_SPAWNFCGI ;;
    "relight https") echo $PORT_RELIGHT_TLS ;;
    "lighttpd https") echo $PORT_LIGHTTPD_TLS ;;
    "nginx+relight https") echo $PORT_NGINX_TLS ;;
  esac
}
scheme_of() {
  case $1 in *https) echo https ;; *) echo http ;; esac
}

SETUPS=(lighttpd relight nginx+relight nginx+spawn-fcgi)
RESULTS="$W/results.tsv"
: >"$RESULTS"

# wrk one setup: scenario setup path connections [script]; records req/s, p50, p99, RSS.
run_wrk() {
  local scenario=$1 setup=$2 path=$3 conns=$4 script=${5:-}
  local port
  port=$(port_of "$setup")
  local url
  url="$(scheme_of "$setup")://127.0.0.1:$port$path"
  local code
  local data=()
  [ "$script" = "$W/post.lua" ] && data=(--data-binary @"$W/post.body")
  code=$(curl -sk -o /dev/null -w '%{http_code}' "${data[@]}" "$url")
  if [ "$code" != 200 ]; then
    echo "bench: $setup $path answered $code" >&2
    exit 1
  fi
  local args=(-t 2 -c "$conns" -d "${DURATION}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  # RSS sampled in the middle of the run.
  (sleep "$((DURATION / 2))"; echo "$(rss_kib $(front_pids "$setup")) $(rss_kib $(backend_pids "$setup"))" >"$W/rss") &
  local sampler=$!
  local fronts cpu0 cpu1
  fronts=$(front_pids "$setup")
  cpu0=$(cpu_ticks $fronts)
  wrk "${args[@]}" "$url" >"$W/wrk.out" 2>&1
  cpu1=$(cpu_ticks $fronts)
  wait "$sampler"
  local rps p50 p99 n cpu
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$W/wrk.out")
  n=$(awk '/ requests in / {print $1}' "$W/wrk.out")
  cpu=$(per_request "$cpu0" "$cpu1" "${n:-0}")
  p50=$(awk '$1 == "50%" {print $2}' "$W/wrk.out")
  p99=$(awk '$1 == "99%" {print $2}' "$W/wrk.out")
  local errors
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$W/wrk.out" | tr '\n' ' ')
  read -r front back <"$W/rss"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$setup" "$rps" "$p50" "$p99" "$front" "$back" "$errors" "${cpu% *}" "${cpu#* }" >>"$RESULTS"
  echo "bench: $scenario / $setup: $rps req/s, p50 $p50, p99 $p99, front ${front} KiB, backends ${back} KiB, front CPU ${cpu% *} µs user + ${cpu#* } µs sys per request ${errors}"
}

# h2load one setup over HTTP/2 (TLS, ALPN h2): scenario setup path; 4 connections of 100
# streams each, for DURATION seconds.
run_h2load() {
  local scenario=$1 setup=$2 path=$3
  local port
  port=$(port_of "$setup")
  (sleep "$((DURATION / 2))"; echo "$(rss_kib $(front_pids "$setup")) $(rss_kib $(backend_pids "$setup"))" >"$W/rss") &
  local sampler=$!
  local fronts cpu0 cpu1
  fronts=$(front_pids "$setup")
  cpu0=$(cpu_ticks $fronts)
  h2load -c 4 -m 100 -D "$DURATION" "https://127.0.0.1:$port$path" >"$W/h2load.out" 2>&1
  cpu1=$(cpu_ticks $fronts)
  wait "$sampler"
  local n cpu
  n=$(awk '/^requests:/ {print $2}' "$W/h2load.out")
  cpu=$(per_request "$cpu0" "$cpu1" "${n:-0}")
  local rps failed
  rps=$(awk '/^finished in/ {print $4}' "$W/h2load.out")
  failed=$(awk '/^requests:/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) print $i}' "$W/h2load.out")
  # No latency figures from h2load's summary here: "-" keeps the columns in place.
  local p50="-" p99="-" errors=""
  [ "${failed:-0}" != 0 ] && errors="failed: $failed"
  read -r front back <"$W/rss"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$setup" "$rps" "$p50" "$p99" "$front" "$back" "$errors" "${cpu% *}" "${cpu#* }" >>"$RESULTS"
  echo "bench: $scenario / $setup: $rps req/s, front ${front} KiB, front CPU ${cpu% *} µs user + ${cpu#* } µs sys per request ${errors}"
}

HTTPS_SETUPS=("lighttpd https" "relight https" "nginx+relight https")
for round in $(seq 1 "$ROUNDS"); do
  echo "bench: round $round of $ROUNDS"
  for s in "${SETUPS[@]}" "relight threads=2"; do run_wrk "FastCGI hello" "$s" /fcgi/hello "$CONNS"; done
  run_wrk "FastCGI hello" "relight (no backend)" /raw/hello "$CONNS"
  for s in "${SETUPS[@]}"; do run_wrk "FastCGI 64 KiB" "$s" /fcgi/64k "$CONNS"; done
  for s in "${SETUPS[@]}"; do run_wrk "FastCGI POST 1 MiB echo" "$s" /fcgi/echo 8 "$W/post.lua"; done
  for s in lighttpd relight nginx+relight "relight threads=2"; do run_wrk "static 1 KiB" "$s" /1k.bin "$CONNS"; done
  # A connect/request/close flood: what accepting a connection costs.
  for s in lighttpd relight nginx+relight; do run_wrk "static 1 KiB, a connection per request" "$s" /1k.bin "$CONNS" "$W/close.lua"; done
  for s in lighttpd relight nginx+relight; do run_wrk "static 64 KiB" "$s" /64k.bin "$CONNS"; done
  for s in lighttpd relight nginx+relight "relight threads=2"; do run_wrk "static 1 MiB" "$s" /1m.bin 8; done
  for s in "${HTTPS_SETUPS[@]}"; do run_wrk "HTTPS FastCGI hello" "$s" /fcgi/hello "$CONNS"; done
  for s in "${HTTPS_SETUPS[@]}"; do run_wrk "HTTPS static 1 KiB" "$s" /1k.bin "$CONNS"; done
  # Every request a new connection: a full TLS handshake each (wrk resumes no session).
  for s in "${HTTPS_SETUPS[@]}"; do run_wrk "HTTPS handshakes (a connection per request)" "$s" /1k.bin "$CONNS" "$W/close.lua"; done
  for s in "${HTTPS_SETUPS[@]}"; do run_h2load "HTTP/2 static 1 KiB, h2load 4x100 streams" "$s" /1k.bin; done
  # A process per request (nginx runs no CGI).
  for s in lighttpd relight; do run_wrk "CGI hello (a C program)" "$s" /cgi-bin/hello.cgi "$CONNS"; done
  # The same upstream (an nginx answering itself) behind each.
  for s in lighttpd relight nginx+relight; do run_wrk "HTTP proxy to an upstream" "$s" /up/hello "$CONNS"; done
done
# Each setup's median round (by req/s), with every round's req/s.
MEDIANS="$W/medians.tsv"
python3 - "$RESULTS" >"$MEDIANS" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rows.setdefault((f[0], f[1]), []).append(f)
for key, rs in rows.items():
    rs_sorted = sorted(rs, key=lambda f: float(f[2] or 0))
    med = rs_sorted[(len(rs_sorted) - 1) // 2]
    rounds = " / ".join(f"{float(f[2] or 0):.0f}" for f in rs)
    extra = lambda i: med[i] if len(med) > i else ""
    # The errors last: bash's read joins empty tab-separated fields.
    print("\t".join(med[:7] + [rounds, extra(8) or "-", extra(9) or "-", extra(7)]))
EOF

# ---- idle keep-alive connections ------------------------------------------------------------
idle_conns() { # setup → KiB per connection
  local port
  port=$(port_of "$1")
  local before after
  before=$(rss_kib $(front_pids "$1"))
  python3 - "$port" 1000 "$W/idle.ready" "$(scheme_of "$1")" <<'EOF' &
import socket, ssl, sys, time
port, n, ready, scheme = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if scheme == "https":
        s = ctx.wrap_socket(s)
    s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    conns.append(s)
for s in conns:
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
open(ready, "w").write("ok")
time.sleep(30)
EOF
  local py=$!
  for _ in $(seq 1 600); do [ -f "$W/idle.ready" ] && break; sleep 0.05; done
  sleep 1
  after=$(rss_kib $(front_pids "$1"))
  kill "$py" 2>/dev/null || true
  wait "$py" 2>/dev/null || true
  rm -f "$W/idle.ready"
  echo "$before $after"
}
for s in lighttpd relight nginx+relight "lighttpd https" "relight https"; do
  read -r b a < <(idle_conns "$s")
  per=$(awk -v b="$b" -v a="$a" 'BEGIN { printf "%.1f", (a - b) / 1000 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "1000 idle keep-alive connections" "$s" "$b" "$a" "$per" "" >>"$W/idle.tsv"
  echo "bench: idle / $s: RSS $b KiB idle, $a KiB with 1000 connections: $per KiB each"
done

# ---- memory after bursts: does it come back? ------------------------------------------------
# Five bursts of 1000 keep-alive connections, each making one request and closing; RSS at rest
# before, at the end of the last burst, and 10 s after it (relight gives freed pages back once
# the connections are gone; a server that keeps them ratchets up with every burst).
bursts() { # setup → "before peak after"
  local port
  port=$(port_of "$1")
  local before peak after
  before=$(rss_kib $(front_pids "$1"))
  for _ in 1 2 3 4 5; do
    python3 - "$port" 1000 <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /1k.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    conns.append(s)
for s in conns:
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
for s in conns:
    s.close()
EOF
  done
  peak=$(rss_kib $(front_pids "$1"))
  sleep 10
  after=$(rss_kib $(front_pids "$1"))
  echo "$before $peak $after"
}
for s in lighttpd relight; do
  read -r b p a < <(bursts "$s")
  printf '%s\t%s\t%s\t%s\n' "$s" "$b" "$p" "$a" >>"$W/bursts.tsv"
  echo "bench: bursts / $s: RSS $b KiB before, $p KiB after 5 bursts of 1000 connections, $a KiB 10 s later"
done

# ---- death to the first good response ------------------------------------------------------
respawn() { # setup → median ms over 20 deaths of every backend process
  local port
  port=$(port_of "$1")
  python3 - "$port" "$BACKEND" "$(front_pids "$1" | awk '{print $1}')" <<'EOF'
import os, signal, statistics, sys, time, urllib.request
port, backend, front = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def backends():
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[0].decode()
            stat = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        if cmd == backend and ppid == front and ") Z " not in stat:
            out.append(int(p))
    return out
def ok():
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/fcgi/hello", timeout=2).status == 200
    except Exception:
        return False
times = []
for _ in range(20):
    while not ok():
        time.sleep(0.05)
    time.sleep(0.3)
    pids = backends()
    t0 = time.monotonic()
    for p in pids:
        os.kill(p, signal.SIGKILL)
    deadline = t0 + 30
    while not ok() and time.monotonic() < deadline:
        time.sleep(0.001)
    times.append((time.monotonic() - t0) * 1000)
print(f"{statistics.median(times):.1f} {min(times):.1f} {max(times):.1f}")
EOF
}
for s in lighttpd relight; do
  read -r med lo hi < <(respawn "$s")
  printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$med" "$lo" "$hi" "" >>"$W/respawn.tsv"
  echo "bench: respawn / $s: median $med ms (min $lo, max $hi)"
done

# ---- CPU while a backend crash-loops ------------------------------------------------------------
crashloop() { # name config → % of one core over 5 s
  local name=$1 cmd=$2
  local tck
  tck=$(getconf CLK_TCK)
  setsid bash -c "$cmd" >"$W/$name-crash.out" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  sleep 2
  local t0 t1
  if ! t0=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null); then
    echo "exited at start-up"
    return
  fi
  sleep 5
  if ! t1=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null); then
    echo "exited while its backend failed"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  awk -v a="$t0" -v b="$t1" -v t="$tck" 'BEGIN { printf "%.2f %%", (b - a) / t / 5 * 100 }'
}
# The bench's configurations with /bin/false as the backend, on ports and sockets of their own.
sed -e "s|$BACKEND|/bin/false|; s|127.0.0.1:$PORT_RELIGHT\"|127.0.0.1:18911\"|; s|relight.sock|crash.sock|; s|relight-error.log|crash-relight.log|" \
  -e "/^\[\[tls\]\]/,/^key/d" "$W/relight.toml" >"$W/crash.toml"
sed -e "s|$BACKEND|/bin/false|; s|= $PORT_LIGHTTPD\$|= 18912|; s|lighttpd.sock|crash-lighttpd.sock|; s|lighttpd-error.log|crash-lighttpd.log|" \
  -e '/^\$SERVER/,/^}/d' "$W/lighttpd.conf" >"$W/crash-lighttpd.conf"
cpu_relight=$(crashloop relight "exec $RELIGHT -D -f $W/crash.toml")
cpu_lighttpd=$(crashloop lighttpd "exec lighttpd -D -f $W/crash-lighttpd.conf")
echo "bench: crash loop CPU: relight $cpu_relight, lighttpd $cpu_lighttpd"

# ---- instructions per request (callgrind): the figure the noise of the machine cannot move ----
# Each server runs under callgrind (its backends natively) for 500 and then 2500 keep-alive
# requests (ab -k -c 8); the difference over 2000 is its user-space instructions per request.
# (callgrind counts a `rep movs`/`rep stos` byte by byte, so bulk copies weigh more than their
# time.)
sed -e "s|127.0.0.1:$PORT_RELIGHT\"|127.0.0.1:18941\"|; s|relight.sock|cg-relight.sock|; s|relight-error.log|cg-relight.log|" \
  -e "/^\[\[tls\]\]/,/^key/d" "$W/relight.toml" >"$W/cg.toml"
sed -e "s|= $PORT_LIGHTTPD\$|= 18942|; s|lighttpd.sock|cg-lighttpd.sock|; s|lighttpd-error.log|cg-lighttpd.log|" \
  -e '/^\$SERVER/,/^}/d' "$W/lighttpd.conf" >"$W/cg-lighttpd.conf"
instructions() { # name port path requests cmd... → total Ir
  local name=$1 port=$2 path=$3 n=$4
  shift 4
  rm -f "$W"/cg.out.*
  setsid valgrind --tool=callgrind --callgrind-out-file="$W/cg.out.%p" "$@" >"$W/cg-$name.out" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  ab -k -q -n "$n" -c 8 "http://127.0.0.1:$port$path" >"$W/ab.out" 2>&1
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -h '^\(summary\|totals\):' "$W"/cg.out.* | head -1 | awk '{print $2}'
}
instr_per_request() { # name port path cmd... → instructions per request
  local name=$1 port=$2 path=$3
  shift 3
  local a b
  a=$(instructions "$name" "$port" "$path" 500 "$@")
  b=$(instructions "$name" "$port" "$path" 2500 "$@")
  awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0 && b > a) printf "%d", (b - a) / 2000; else print "-" }'
}
: >"$W/instructions.tsv"
for row in "static 1 KiB|/1k.bin" "FastCGI hello|/fcgi/hello"; do
  sc=${row%|*} path=${row#*|}
  l=$(instr_per_request lighttpd 18942 "$path" lighttpd -D -f "$W/cg-lighttpd.conf")
  r=$(instr_per_request relight 18941 "$path" "$RELIGHT" -D -f "$W/cg.toml")
  printf '%s\t%s\t%s\n' "$sc" "$l" "$r" >>"$W/instructions.tsv"
  echo "bench: instructions per request, $sc: lighttpd $l, relight $r"
done
ANSWER_INSTR=$(instr_per_request relight 18941 /raw/hello "$RELIGHT" -D -f "$W/cg.toml")
echo "bench: instructions per request, [[answer]]: relight $ANSWER_INSTR"

# ---- fcgi-app's hello against the same C libfcgi hello, both behind nginx ----------------------
start spawn_app "$RELIGHT" spawn --procs "$PROCS" --socket "$W/app.sock" -- "$APP_HELLO"
for _ in $(seq 1 100); do [ -S "$W/app.sock" ] && break; sleep 0.05; done
nginx_conf 18905 "$W/app.sock" app
start nginx_app nginx -g "daemon off;" -c "$W/nginx-app.conf"
wait_port 18905
APP_RPS=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" --latency http://127.0.0.1:18905/fcgi/hello | awk '/^Requests\/sec:/ {print $2}')
C_RPS=$(awk -F'\t' '$1 == "FastCGI hello" && $2 == "nginx+relight" {print $3}' "$MEDIANS")
echo "bench: behind nginx: fcgi-app hello $APP_RPS req/s, C libfcgi hello $C_RPS req/s"

# ---- the report ---------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
  echo "# Benchmark results"
  echo
  echo "Produced by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); one run of $ROUNDS rounds, every"
  echo "server in turn within a round, on the same machine. Each row is the setup's median round (by"
  echo "req/s; its latency and memory are that round's), with every round's req/s in the last column."
  echo "Ratios are to lighttpd's figure in the same scenario (req/s: higher is better; latency and"
  echo "memory: lower is better)."
  echo
  echo "- machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), Linux $(uname -r)"
  echo "- relight $(git rev-parse --short HEAD) (release: opt-level 2, fat LTO, 1 codegen unit, stripped), $(stat -c %s "$RELIGHT") bytes"
  echo "- $(lighttpd -v 2>&1 | head -1); $(nginx -v 2>&1); $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
  echo "- backend: bench/backend.c (libfcgi), $PROCS processes per setup; wrk -t2, ${DURATION}s per run"
  echo "- setups: relight spawning the backend (one thread, the default); lighttpd with bin-path;"
  echo "  nginx with relight spawn; nginx with spawn-fcgi + multiwatch (nginx: $PROCS workers,"
  echo "  sendfile on); \"relight threads=2\": relight on tokio's work-stealing runtime with two"
  echo "  threads; \"relight (no backend)\": the same body answered by relight itself (\`[[answer]]\`),"
  echo "  the ceiling of the HTTP front end; \"… https\": the TLS listeners of the same processes"
  echo "  (one ECDSA P-256 certificate; lighttpd with mod_openssl, nginx \`listen ssl http2\`);"
  echo "  handshakes: wrk with \`Connection: close\` (a full handshake per request, no resumption);"
  echo "  HTTP/2: h2load, 4 connections of 100 streams each, ${DURATION}s (no latency figures)"
  echo "- binary: the size above has the default features (TLS with rustls/ring, HTTP/2, compression); built for size (\`--profile small\`, opt-level \"s\"): $SMALL_SIZE bytes, and without the features (\`--profile small --no-default-features\`): $MINIMAL_SIZE bytes"
  echo "- at rest, before any request: relight $IDLE_RELIGHT KiB RSS, lighttpd $IDLE_LIGHTTPD KiB"
  echo
  echo "| scenario | setup | req/s | ×lighttpd | p50 | p99 | front RSS KiB | ×lighttpd | backends RSS KiB | front CPU µs/request: user + sys | user ×lighttpd | rounds req/s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  while IFS=$'\t' read -r sc setup rps p50 p99 front back rounds user sys errors; do
    base_rps=$(awk -F'\t' -v s="$sc" '$1 == s && ($2 == "lighttpd" || $2 == "lighttpd https") {print $3}' "$MEDIANS")
    base_front=$(awk -F'\t' -v s="$sc" '$1 == s && ($2 == "lighttpd" || $2 == "lighttpd https") {print $6}' "$MEDIANS")
    base_user=$(awk -F'\t' -v s="$sc" '$1 == s && ($2 == "lighttpd" || $2 == "lighttpd https") {print $9}' "$MEDIANS")
    echo "| $sc | $setup | $rps | $(ratio "$rps" "$base_rps") | $p50 | $p99 | $front | $(ratio "$front" "$base_front") | $back | $user + $sys | $(ratio "$user" "$base_user") | $rounds |${errors:+ $errors}"
  done <"$MEDIANS"
  echo
  echo "| 1000 idle keep-alive connections (https: TLS 1.3, HTTP/1.1) | RSS before KiB | with 1000 KiB | KiB per connection |"
  echo "|---|---|---|---|"
  while IFS=$'\t' read -r _ setup b a per _; do
    echo "| $setup | $b | $a | $per |"
  done <"$W/idle.tsv"
  echo
  echo "| 5 bursts of 1000 connections (one request each, then closed) | RSS before KiB | after the bursts | 10 s later |"
  echo "|---|---|---|---|"
  while IFS=$'\t' read -r setup b p a; do
    echo "| $setup | $b | $p | $a |"
  done <"$W/bursts.tsv"
  echo
  echo "| death of every backend process → first good response (20 times) | median ms | min | max |"
  echo "|---|---|---|---|"
  while IFS=$'\t' read -r setup med lo hi _; do
    echo "| $setup | $med | $lo | $hi |"
  done <"$W/respawn.tsv"
  echo
  echo "| user-space instructions per request (callgrind, ab -k -c 8) | lighttpd | relight | ×lighttpd |"
  echo "|---|---|---|---|"
  while IFS=$'\t' read -r sc l r; do
    echo "| $sc | $l | $r | $(ratio "$r" "$l") |"
  done <"$W/instructions.tsv"
  echo "| \`[[answer]]\` (relight's HTTP front end alone) | - | $ANSWER_INSTR | - |"
  echo
  echo "| CPU of the front end while the backend crash-loops (/bin/false), 5 s | of one core |"
  echo "|---|---|"
  echo "| lighttpd | $cpu_lighttpd |"
  echo "| relight | $cpu_relight |"
  echo
  echo "fcgi-app's \`hello\` example against the C libfcgi backend's /hello, both behind nginx with"
  echo "\`relight spawn --procs $PROCS\`: $APP_RPS req/s against $C_RPS req/s ($(ratio "$APP_RPS" "$C_RPS")×)."
} >bench/RESULTS.md
echo "bench: wrote bench/RESULTS.md"

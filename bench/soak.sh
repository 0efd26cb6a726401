#!/usr/bin/env bash
# The soak (issue 12; not run by CI): relight under 30 minutes of mixed traffic while its
# backend is killed every few seconds and its configuration reloaded every minute. Prints, and
# appends to bench/RESULTS.md's soak section when SOAK_RECORD=1: requests by kind and outcome,
# hung requests (none may be), failures against backend kills, and relight's RSS and open
# descriptors over time (flat after the first minutes).
#
#   bench/soak.sh                   # 30 minutes
#   SOAK_SECONDS=120 bench/soak.sh  # a short run
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_TOTAL="${SOAK_SECONDS:-1800}"

PKGS=(gcc libc6-dev libfcgi-dev python3)
. scripts/debian-packages.sh
ensure_packages soak "${PKGS[@]}"

W=$(mktemp -d /tmp/relight-soak.XXXXXX)
RELIGHT_PID=
cleanup() {
  [ -n "$RELIGHT_PID" ] && kill -TERM "$RELIGHT_PID" 2>/dev/null || true
  sleep 1
  rm -rf "$W"
}
trap cleanup EXIT

echo "soak: building (release)"
cargo build -q --release -p relight --bin relight
cc -O2 -o "$W/backend" bench/backend.c -lfcgi
mkdir -p "$W/www"
head -c 1024 /dev/urandom >"$W/www/1k.bin"
head -c 262144 /dev/urandom >"$W/www/256k.bin"
PORT=18950
write_config() {
  cat >"$W/relight.toml" <<CONF
[server]
listen = ["127.0.0.1:$PORT"]
document_root = "$W/www"
error_log = "$W/error.log"
access_log = "$W/access.log"
read_timeout = "10s"

[[fastcgi]]
name = "app"
match = ["/app"]
command = ["$W/backend"]
socket = "$W/app.sock"
procs = $1
request_timeout = "5s"
CONF
}
write_config 4
"$ROOT/target/release/relight" -D -f "$W/relight.toml" 2>"$W/stderr.log" &
RELIGHT_PID=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

python3 - "$RELIGHT_PID" "$PORT" "$SECONDS_TOTAL" "$W" <<'PY'
import http.client, os, random, signal, socket, subprocess, sys, threading, time, collections

pid, port, total, work = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
end = time.time() + total
lock = threading.Lock()
outcomes = collections.Counter()   # (kind, outcome) -> n
kills = []
reloads = 0
samples = []                       # (t, rss KiB, fds)

def count(kind, outcome):
    with lock:
        outcomes[(kind, outcome)] += 1

def request(kind, path, timeout=10):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse(); r.read(); c.close()
        count(kind, str(r.status))
    except socket.timeout:
        count(kind, "HUNG")
    except Exception as e:
        count(kind, type(e).__name__)

def keepalive(kind, paths):
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for _ in range(50):
                c.request("GET", random.choice(paths))
                r = c.getresponse(); r.read()
                count(kind, str(r.status))
                if r.getheader("connection", "").lower() == "close":
                    break
            c.close()
        except socket.timeout:
            count(kind, "HUNG")
        except Exception as e:
            count(kind, type(e).__name__)

def slow_client():
    # Sends its head a byte every 0.5 s, then must get an answer (or a 408 from the header
    # timeout): never no answer at all.
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=70)
            head = b"GET /1k.bin HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"
            for i in range(0, len(head), 4):
                s.sendall(head[i:i+4]); time.sleep(0.5)
            data = s.recv(64)
            count("slow", data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "nothing")
            s.close()
        except socket.timeout:
            count("slow", "HUNG")
        except Exception as e:
            count("slow", type(e).__name__)

def aborting_client():
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /app/slow HTTP/1.1\r\nHost: soak\r\n\r\n")
            time.sleep(random.uniform(0.01, 0.3))
            s.close()
            count("abort", "left")
        except Exception as e:
            count("abort", type(e).__name__)
        time.sleep(0.05)

def backends():
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = open(f"/proc/{d}/stat").read()
                ppid = int(st[st.rfind(")") + 2:].split()[1])
                if ppid == pid and open(f"/proc/{d}/cmdline", "rb").read().startswith(f"{work}/backend".encode()):
                    out.append(int(d))
            except OSError:
                pass
    return out

def killer():
    while time.time() < end:
        time.sleep(random.uniform(2, 5))
        procs = backends()
        if procs:
            victim = random.choice(procs)
            try:
                os.kill(victim, signal.SIGKILL); kills.append(time.time())
            except OSError:
                pass

def reloader():
    global reloads
    n = 0
    while time.time() < end:
        time.sleep(60)
        n += 1
        procs = 3 if n % 2 else 4
        cfg = open(f"{work}/relight.toml").read()
        import re
        cfg = re.sub(r"procs = \d+", f"procs = {procs}", cfg)
        open(f"{work}/relight.toml", "w").write(cfg)
        os.kill(pid, signal.SIGUSR1); reloads += 1

def sampler():
    start = time.time()
    while time.time() < end:
        try:
            rss = int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")][0].split()[1])
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            samples.append((time.time() - start, rss, fds))
        except OSError:
            samples.append((time.time() - start, -1, -1))
        time.sleep(10)

threads = [threading.Thread(target=keepalive, args=("static", ["/1k.bin", "/256k.bin", "/missing"])) for _ in range(3)]
threads += [threading.Thread(target=keepalive, args=("fastcgi", ["/app/hello", "/app/64k", "/app/slow"])) for _ in range(4)]
threads += [threading.Thread(target=slow_client) for _ in range(20)]
threads += [threading.Thread(target=aborting_client) for _ in range(4)]
threads += [threading.Thread(target=f) for f in (killer, reloader, sampler)]
for t in threads: t.daemon = True; t.start()
while time.time() < end:
    time.sleep(30)
    with lock:
        done = sum(outcomes.values())
    print(f"soak: {int(end - time.time())} s left, {done} requests, {len(kills)} kills, {reloads} reloads, RSS {samples[-1][1] if samples else '?'} KiB, fds {samples[-1][2] if samples else '?'}", flush=True)
time.sleep(12)
alive = os.path.exists(f"/proc/{pid}")
# The report.
print(f"\n## Soak: {total} s, relight alive at the end: {alive}\n")
print("| kind | outcome | requests |\n|---|---|---|")
for (kind, outcome), n in sorted(outcomes.items()):
    print(f"| {kind} | {outcome} | {n} |")
hung = sum(n for (k, o), n in outcomes.items() if o == "HUNG")
bad_static = sum(n for (k, o), n in outcomes.items() if k == "static" and o not in ("200", "404"))
fcgi_failed = sum(n for (k, o), n in outcomes.items() if k == "fastcgi" and o not in ("200",))
print(f"\nhung requests: {hung}; static failures: {bad_static}; FastCGI failures: {fcgi_failed} "
      f"against {len(kills)} backend kills (each kill can fail the request its process was serving) "
      f"and {reloads} reloads")
def at(t):
    s = [x for x in samples if x[0] >= t]
    return s[0] if s else samples[-1]
first, two, last = samples[0], at(120), samples[-1]
print(f"RSS KiB: start {first[1]}, at 2 min {two[1]}, end {last[1]}, max after 2 min "
      f"{max(x[1] for x in samples if x[0] >= 120) if total > 120 else last[1]}")
print(f"open descriptors: start {first[2]}, at 2 min {two[2]}, end {last[2]}, max after 2 min "
      f"{max(x[2] for x in samples if x[0] >= 120) if total > 120 else last[2]}")
ok = alive and hung == 0 and bad_static == 0 and fcgi_failed <= len(kills)
print("verdict:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY

#!/usr/bin/env bash
# Hostname rows for scripts/bench.sh, beside the address-only figures:
#
#   install    `network-sandbox run -- true` with three names from the hosts file, against
#              the same policy written as addresses (median of N runs, wall clock, includes
#              the command's own start-up)
#   connect    one getaddrinfo + TCP connect + close to a loopback listener, by name and by
#              address, inside the same sandboxed python3 (median of N)
#
#   scripts/bench-hostnames.sh [--quick]
#
# Needs root (a private mount namespace holds a hosts file with the three names, so the
# machine's /etc/hosts is never touched) and python3. Loopback only; the listener is
# stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=50
conns=2000
if [[ "${1:-}" == "--quick" ]]; then
  runs=15
  conns=500
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "bench-hostnames.sh: needs root (a private mount namespace for the hosts file); skipped" >&2
  exit 0
fi
py=$(command -v python3 || true)
[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
if [[ -z "$py" ]]; then
  echo "bench-hostnames.sh: needs python3; skipped" >&2
  exit 0
fi

cargo build -q --release -p network-sandbox-cli
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/network-sandbox"
work=$(mktemp -d)
listener_pid=
cleanup() {
  [[ -n "$listener_pid" ]] && kill "$listener_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A listener on 127.0.0.2 that accepts and closes, on a free port.
"$py" - "$work/port" <<'EOF' &
import socket, sys
s = socket.socket()
s.bind(('127.0.0.2', 0))
s.listen(512)
open(sys.argv[1], 'w').write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    c.close()
EOF
listener_pid=$!
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.05; done
port=$(cat "$work/port")

cat /etc/hosts > "$work/hosts"
for n in 1 2 3; do echo "127.0.0.2 bench$n.test" >> "$work/hosts"; done

cat > "$work/install.py" <<'EOF'
import statistics, subprocess, sys, time
runs, args = int(sys.argv[1]), sys.argv[2:]
def median_ms(cmd):
    t = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        t.append((time.perf_counter() - start) * 1000)
    return statistics.median(t)
sep = args.index('::')
names, addrs = args[:sep], args[sep + 1:]
a = median_ms(addrs)
n = median_ms(names)
print(f"  install, 3 addresses          {a:8.2f} ms")
print(f"  install, 3 names (hosts file) {n:8.2f} ms   (+{n - a:.2f} ms)")
EOF

cat > "$work/connect.py" <<'EOF'
import socket, statistics, sys, time
n, port = int(sys.argv[1]), int(sys.argv[2])
def median_us(host):
    t = []
    for _ in range(n):
        start = time.perf_counter()
        ai = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], ai[1])
        s.connect(ai[4])
        s.close()
        t.append((time.perf_counter() - start) * 1e6)
    return statistics.median(t)
a = median_us('127.0.0.2')
b = median_us('bench1.test')
print(f"  connect by address            {a:8.1f} us")
print(f"  connect by name               {b:8.1f} us   (+{b - a:.1f} us)")
EOF

policy_names=(--allow "bench1.test:$port" --allow "bench2.test:$port" --allow "bench3.test:$port")
policy_addrs=(--allow "127.0.0.2:$port" --allow "127.0.0.2:$((port == 65535 ? 1 : port + 1))" --allow "127.0.0.2:$((port == 1 ? 65535 : port - 1))")

echo
echo "hostnames (loopback; names from a hosts file in a private mount namespace)"
unshare -m sh -c '
  mount --make-rprivate / && mount --bind "$1" /etc/hosts && shift &&
  exec "$@"' sh "$work/hosts" \
  "$py" "$work/install.py" "$runs" \
  "$bin" run "${policy_names[@]}" -- true :: "$bin" run "${policy_addrs[@]}" -- true
unshare -m sh -c '
  mount --make-rprivate / && mount --bind "$1" /etc/hosts && shift &&
  exec "$@"' sh "$work/hosts" \
  "$bin" run --allow "bench1.test:$port" --allow "127.0.0.2:$port" -- "$py" "$work/connect.py" "$conns" "$port"

#!/bin/sh
# The libshard demo. On a fresh Debian 12 machine, as root: installs what is
# missing, builds libshard, then
#   1. shows where keys go in the seed deployment's pool (examples/seed.yml),
#      exactly as twemproxy 0.5 would place them;
#   2. starts four local redis-servers on free loopback ports, runs the
#      quickstart example against a pool with the seed's settings (writes,
#      reads, a split MGET, where each key landed), and stops the servers.
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)
build="$root/build-demo"

step() {
    printf '\n=== %s\n' "$*"
}

. "$root/tests/deps.sh"
step "packages"
install_packages

step "build ($build)"
if [ ! -d "$build/meson-private" ]; then
    meson setup "$build" -Dtests=false
fi
meson compile -C "$build"

step "1. placement on the seed deployment (examples/seed.yml)"
"$build/examples/locate" "$root/examples/seed.yml" \
    user:1 user:2 user:3 cart:7 session:ab "{user:1}:cart" page:/ n

scratch=$(mktemp -d "${TMPDIR:-/tmp}/libshard-demo.XXXXXX")
pids=""
cleanup() {
    for pid in $pids; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $pids; do
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four ports nothing listens on, asked of the kernel.
ports=$(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')

step "2. four redis-servers on 127.0.0.1 ports $ports"
for port in $ports; do
    redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize no --dir "$scratch" \
        --logfile "$scratch/redis-$port.log" &
    pids="$pids $!"
done
for port in $ports; do
    tries=0
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 50 ] || { echo "redis on $port did not start" >&2; exit 1; }
        sleep 0.1
    done
done

# The seed pool's settings, with the servers on the demo's ports.
config="$scratch/demo.yml"
sed '/^  servers:/,$d' "$root/examples/seed.yml" >"$config"
echo "  servers:" >>"$config"
for port in $ports; do
    echo "   - 127.0.0.1:$port:1" >>"$config"
done
echo "config:"
sed 's/^/  /' "$config"

step "quickstart"
"$build/examples/quickstart" "$config"

step "done: servers stopped"

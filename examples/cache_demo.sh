#!/bin/sh
# The cache API's demo: starts two redis-servers and two memcached on free
# loopback ports, writes a Redis pool and a memcached pool with the same
# settings, and runs the same program (examples/cache_demo.c), unchanged,
# on each; then shows that both printed the same thing, and shard-cli
# reading the memcached pool with memcached's own get.
#
#   examples/cache_demo.sh [BUILD_DIR]
#
# BUILD_DIR (default build-demo) is a configured and built tree; it needs
# redis-server and memcached on the PATH. Stops what it started.
set -eu

cd "$(dirname "$0")/.."
build=${1:-build-demo}
demo="$build/examples/cache_demo"
if [ ! -x "$demo" ]; then
    echo "cache_demo.sh: no $demo (meson compile -C $build first)" >&2
    exit 1
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/libshard-cache-demo.XXXXXX")
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

ports=$(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
set -- $ports
redis1=$1 redis2=$2 mc1=$3 mc2=$4

for port in $redis1 $redis2; do
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --dir "$scratch" --logfile "$scratch/redis-$port.log" &
    pids="$pids $!"
done
user=""
[ "$(id -u)" -ne 0 ] || user="-u root"
for port in $mc1 $mc2; do
    # shellcheck disable=SC2086 # $user is empty or two words
    memcached -l 127.0.0.1 -p "$port" -U 0 $user &
    pids="$pids $!"
done

# Both answer before the demo starts.
python3 - "$redis1" "$redis2" "$mc1" "$mc2" <<'EOF'
import socket, sys, time
for port in sys.argv[1:]:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", int(port)), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        sys.exit("cache_demo.sh: nothing listens on %s" % port)
EOF

# The same pool settings; only `redis:` and the servers differ.
pool() { # NAME REDIS PORT1 PORT2
    printf '%s:\n  listen: 127.0.0.1:22121\n  redis: %s\n' "$1" "$2"
    printf '  hash: fnv1a_64\n  distribution: ketama\n  timeout: 400\n'
    printf '  servers:\n   - 127.0.0.1:%s:1\n   - 127.0.0.1:%s:1\n' "$3" "$4"
}
pool cache_redis true "$redis1" "$redis2" >"$scratch/redis.yml"
pool cache_memcached false "$mc1" "$mc2" >"$scratch/memcached.yml"

echo "=== the cache API on a Redis pool"
"$demo" "$scratch/redis.yml" | tee "$scratch/redis.out"
echo
echo "=== the same program on a memcached pool"
"$demo" "$scratch/memcached.yml" | tee "$scratch/memcached.out"
echo
# The first line names the pool; everything after it must be the same.
if diff "$scratch/redis.out" "$scratch/memcached.out" | grep -v "pool '" |
    grep -q '^[<>]'; then
    echo "=== the two runs differ:"
    diff "$scratch/redis.out" "$scratch/memcached.out" || true
    exit 1
fi
echo "=== same results on both backends"

# shard-cli sends memcached's own commands on the same pool, printed as
# redis-cli prints Redis replies: what the program left there.
cli="$build/examples/shard-cli/shard-cli"
if [ -x "$cli" ]; then
    echo
    echo "=== shard-cli on the memcached pool: its commands, split per server"
    echo "\$ shard-cli -c memcached.yml get demo:a demo:b demo:c demo:absent"
    "$cli" -c "$scratch/memcached.yml" --no-raw get demo:a demo:b demo:c \
        demo:absent
fi

#!/bin/sh
# The libshard demo: switching from twemproxy, on one nutcracker.yml.
#
# On a fresh Debian 12 machine, as root: installs what is missing, builds
# libshard (build-demo/), then starts four redis-servers and a nutcracker
# on free loopback ports, on one nutcracker.yml, and tells the story:
#   1. the file, checked as `nutcracker -t` does (shard-cli check);
#   2. an application writes 10,000 keys through nutcracker;
#   3. libshard opens the same file and reads every key back (Python);
#   4. MGETs of 100 keys per second, through nutcracker and libshard;
#   5. one server killed: what nutcracker and libshard answer;
#   6. shard-cli locate and diff on the same file;
#   7. memcached pools: the cache API on both backends, and shard-cli
#      sending memcached's get (examples/cache_demo.sh).
# Everything it started is stopped at the end, also on failure or ^C.
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)
build="$root/build-demo"
start=$(date +%s)

step() {
    printf '\n=== %s\n' "$*"
}

say() {
    printf '    %s\n' "$*"
}

. "$root/tests/deps.sh"
step "packages"
install_packages

step "build ($build)"
t0=$(date +%s)
log="$root/build-demo.log"
{
    [ -d "$build/meson-private" ] || meson setup "$build" -Dtests=false
    # shard-cli, the cache API's demo and the library they link.
    meson compile -C "$build" shard-cli cache_demo
} >"$log" 2>&1 || {
    cat "$log"
    exit 1
}
rm -f "$log"
say "libshard and shard-cli built in $(($(date +%s) - t0)) s (the Python package is pure Python)"

cli="$build/examples/shard-cli/shard-cli"
PYTHONPATH="$root/examples/python"
SHARD_LIB="$build/lib/libshard.so"
export PYTHONPATH SHARD_LIB

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

# Six ports nothing listens on, asked of the kernel: four redis-servers,
# nutcracker and its stats port.
set -- $(python3 -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
ports="$1 $2 $3 $4"
nc_port=$5
nc_stats=$6

for port in $ports; do
    redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize no --dir "$scratch" \
        --logfile "$scratch/redis-$port.log" &
    pids="$pids $!"
    eval "pid_$port=$!"
done

# A twemproxy pool as a Redis data store runs it: ketama over fnv1a_64,
# hash tags, no ejection (auto_eject_hosts would move a dead server's keys
# to the others, where they read as misses).
config="$scratch/nutcracker.yml"
pool=shop
cat >"$config" <<EOF
$pool:
  listen: 127.0.0.1:$nc_port
  redis: true
  hash: fnv1a_64
  hash_tag: "{}"
  distribution: ketama
  auto_eject_hosts: false
  timeout: 400
  servers:
EOF
for port in $ports; do
    echo "   - 127.0.0.1:$port:1" >>"$config"
done

for port in $ports; do
    tries=0
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 50 ] || { echo "redis on $port did not start" >&2; exit 1; }
        sleep 0.1
    done
done
nutcracker -c "$config" -s "$nc_stats" -a 127.0.0.1 \
    -o "$scratch/nutcracker.log" &
pids="$pids $!"
tries=0
until redis-cli -p "$nc_port" get probe >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 50 ] || { echo "nutcracker did not start" >&2; exit 1; }
    sleep 0.1
done

indent() {
    sed 's/^./    &/'
}

step "1. one nutcracker.yml, four local redis-servers"
sed -n '1,/servers:/p' "$config" | indent
say "\$ shard-cli check nutcracker.yml"
"$cli" check "$config" | indent
say "nutcracker serves it on 127.0.0.1:$nc_port"

step "2. an application writes 10,000 keys through nutcracker"
python3 - "$nc_port" <<'EOF'
# What an application on twemproxy does: SET user:1 ... user:10000 through
# nutcracker, pipelined 500 at a time, and checks every answer.
import socket, sys, time
port = int(sys.argv[1])
t0 = time.monotonic()
ok = 0
with socket.create_connection(("127.0.0.1", port)) as s:
    f = s.makefile("rb")
    for first in range(1, 10001, 500):
        batch = range(first, min(first + 500, 10001))
        out = []
        for i in batch:
            k, v = b"user:%d" % i, b"value-%d" % i
            out.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                       % (len(k), k, len(v), v))
        s.sendall(b"".join(out))
        ok += sum(f.readline() == b"+OK\r\n" for _ in batch)
print("    %d of 10000 SETs answered OK by nutcracker (%.1f s)"
      % (ok, time.monotonic() - t0))
sys.exit(0 if ok == 10000 else 1)
EOF

step "3. libshard opens the same file and reads them back (Python)"
python3 - "$config" "$pool" <<'EOF'
# The same file, opened by libshard in-process: every key must be on the
# server where nutcracker put it, or it would come back missing.
import sys, time
import libshard
t0 = time.monotonic()
keys = ["user:%d" % i for i in range(1, 10001)]
missing = wrong = 0
with libshard.Pool(sys.argv[1], sys.argv[2]) as pool:
    for first in range(0, len(keys), 100):
        batch = keys[first:first + 100]
        for key, value in zip(batch, pool.command("MGET", *batch)):
            if value is None:
                missing += 1
            elif value != b"value-" + key[5:].encode():
                wrong += 1
    sizes = [pool.command_server(s.index, "DBSIZE") for s in pool.servers]
print("    read 10000 keys with 100 MGETs of 100 in %.2f s: %d missing, "
      "%d wrong" % (time.monotonic() - t0, missing, wrong))
print("    the servers hold %s keys: not one key moved"
      % " + ".join(str(n) for n in sizes))
sys.exit(0 if missing == wrong == 0 else 1)
EOF

# 100 of the keys, spread over the servers (every 97th).
keys=$(awk 'BEGIN { for (i = 1; i <= 100; i++) printf "user:%d ", (i * 97) % 10000 + 1 }')
rate() { # count start_ns end_ns
    echo $(($1 * 1000000000 / ($3 - $2)))
}
step "4. MGET of 100 keys, one client each (redis-cli -r / shard-cli -r)"
n=2000
# shellcheck disable=SC2086 # the key list is meant to split
{
    t0=$(date +%s%N)
    redis-cli -p "$nc_port" -r $n MGET $keys >/dev/null
    t1=$(date +%s%N)
    "$cli" -c "$config" -r $n MGET $keys >/dev/null
    t2=$(date +%s%N)
}
nc_rate=$(rate $n "$t0" "$t1")
ls_rate=$(rate $n "$t1" "$t2")
say "through nutcracker: $(printf '%6d' "$nc_rate") MGET-100/s"
say "through libshard:   $(printf '%6d' "$ls_rate") MGET-100/s" \
    "($(awk "BEGIN { printf \"%.1f\", $ls_rate / $nc_rate }")x;" \
    "docs/benchmarks.md has careful figures)"

set -- $ports
victim=$2
step "5. redis-server 127.0.0.1:$victim killed; the same MGET of 100 keys"
eval "kill \$pid_$victim"
while redis-cli -p "$victim" ping >/dev/null 2>&1; do sleep 0.05; done
# shellcheck disable=SC2086
nc_out=$(redis-cli -p "$nc_port" MGET $keys 2>&1 || true)
nc_values=$(printf '%s\n' "$nc_out" | grep -c '^value-' || true)
say "through nutcracker: $(printf '%s\n' "$nc_out" | head -n 1 | sed 's/^$/(nothing)/')"
say "                    $nc_values values: the whole MGET failed"
# shellcheck disable=SC2086
"$cli" -c "$config" --no-raw MGET $keys >"$scratch/mget.txt" || true
ls_values=$(grep -c '"value-' "$scratch/mget.txt" || true)
ls_errors=$(grep -c '(error)' "$scratch/mget.txt" || true)
say "through libshard:   $ls_values values, $ls_errors errors, one per key of the dead server:"
grep -m 1 '(error)' "$scratch/mget.txt" | sed 's/^ */                        /'

step "6. shard-cli on the same file"
say "\$ shard-cli -c nutcracker.yml locate user:1 user:9999 '{user:1}:cart'"
"$cli" -c "$config" locate user:1 user:9999 '{user:1}:cart' | indent
bigger="$scratch/nutcracker-plus-one.yml"
cp "$config" "$bigger"
echo "   - 127.0.0.1:6390:1" >>"$bigger"
echo
say "\$ shard-cli diff nutcracker.yml nutcracker-plus-one.yml   # a fifth server"
"$cli" diff "$config" "$bigger" | indent || true

step "7. memcached pools: one program, both backends (the cache API); shard-cli"
sh "$root/examples/cache_demo.sh" "$build" | indent

step "done in $(($(date +%s) - start)) s; servers stopped"

#!/usr/bin/env python3
"""Using libshard from Python: a few commands on a twemproxy pool.

    PYTHONPATH=examples/python SHARD_LIB=build/lib/libshard.so \\
        python3 examples/python/example.py nutcracker.yml [POOL]

(After `meson install`, or `pip install ./examples/python`, neither
variable is needed.) The servers of the pool must be running
(redis: true).
"""

import sys

import libshard


def main(argv):
    if len(argv) < 2:
        print("usage: example.py CONFIG [POOL]", file=sys.stderr)
        return 2
    try:
        pool = libshard.Pool(argv[1], argv[2] if len(argv) > 2 else None)
    except libshard.ShardError as e:
        print("cannot open the pool: %s" % e, file=sys.stderr)
        return 1

    with pool:
        print("pool '%s':" % pool.name)
        for server in pool.servers:
            print("  [%d] %s at %s" % server)

        # Values are bytes and may hold anything, NULs included.
        print(pool.command("SET", "greeting", b"hello\x00world"))  # 'OK'
        print(pool.command("GET", "greeting"))  # b'hello\x00world'

        # Multi-key commands are split across servers and joined in order.
        names = ["alice", "bob", "carol", "dave", "erin", "frank"]
        with pool.pipeline() as p:
            for name in names:
                p.command("SET", "user:" + name, name.upper())
            p.execute()
        keys = ["user:" + name for name in names] + ["user:nobody"]
        for key, value in zip(keys, pool.command("MGET", *keys)):
            print("  %-12s on %s: %r" % (key, pool.locate(key).addr, value))
        print("deleted", pool.command("DEL", *keys))  # 6

        # An error reply is raised for one command; the pool stays usable.
        try:
            pool.command("NOSUCHCOMMAND", "x")
        except libshard.ReplyError as e:
            print("error reply:", e.message)

        try:
            pool.command("GET", "greeting")
        except (TimeoutError, ConnectionError) as e:
            # No reply at all: a server down, a timeout...
            print("failed: %s (code %d)" % (e, e.code), file=sys.stderr)
            return 1
        print("requests so far:",
              sum(pool.stats()[pool.name][s.name]["requests"]
                  for s in pool.servers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Using libshard from Python: a few commands on a twemproxy pool.

    SHARD_LIB=build/lib/libshard.so \\
        python3 examples/python/example.py nutcracker.yml [POOL]

The servers of the pool must be running (redis: true).
"""

import sys

import shard


def main(argv):
    if len(argv) < 2:
        print("usage: example.py CONFIG [POOL]", file=sys.stderr)
        return 2
    try:
        pool = shard.Pool(argv[1], argv[2] if len(argv) > 2 else None)
    except shard.ShardError as e:
        print("cannot open the pool: %s" % e, file=sys.stderr)
        return 1

    with pool:
        print("pool '%s':" % pool.name)
        for index, (name, addr) in enumerate(pool.servers()):
            print("  [%d] %s at %s" % (index, name, addr))

        # Values are bytes and may hold anything, NULs included.
        print(pool.command("SET", "greeting", b"hello\x00world"))  # 'OK'
        print(pool.command("GET", "greeting"))  # b'hello\x00world'

        # Multi-key commands are split across servers and joined in order.
        names = ["alice", "bob", "carol", "dave", "erin", "frank"]
        for name in names:
            pool.command("SET", "user:" + name, name.upper())
        keys = ["user:" + name for name in names] + ["user:nobody"]
        for key, value in zip(keys, pool.command("MGET", *keys)):
            print("  %-12s on server %d: %r" % (key, pool.locate(key), value))
        print("deleted", pool.command("DEL", *keys))  # 6

        # An error reply is returned, not raised; the pool stays usable.
        reply = pool.command("NOSUCHCOMMAND", "x")
        if isinstance(reply, shard.ReplyError):
            print("error reply:", reply.message)

        try:
            pool.command("GET", "greeting")
        except shard.ShardError as e:
            # No reply at all: a server down, a timeout...
            print("failed: %s (code %d)" % (e, e.code), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

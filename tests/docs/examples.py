#!/usr/bin/env python3
"""Every C example in README.md and docs/*.md, compiled and run.

Each ```c block is taken as written. The word after `c` on its fence says
how it runs (Markdown renderers ignore it):

  ```c            the body of main(): it opens its own pool from
                  "nutcracker.yml" (pool "redis1") in the working directory
  ```c pool ...   the body of a function that gets `pool`, already open on
                  that pool; ```c mcpool ... the same on pool "mc1", of
                  memcached servers; the words after `pool` name helpers it
                  uses
                  (libevent, libuv, libev: `on_reply` and the loop to stop;
                  libevent-attached: a libevent `base` driving the pool and
                  `on_status`/`on_exec`; keys: `keys` and `n`)
  ```c decl ...   file-scope declarations, compiled into a program that
                  does nothing (mywatcher: a small `my_watcher` for them)

Two redis-servers and two memcached run on free loopback ports for the
whole run, in a temporary directory that also holds nutcracker.yml; they
are stopped at the end, whatever happens.

  examples.py --source SRC --build BUILD [--sanitize LIST]
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

DOCS = ["README.md", "docs/guide.md", "docs/async.md", "docs/api.md",
        "docs/architecture.md", "docs/benchmarks.md", "docs/failures.md"]

PRELUDE = """\
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shard/shard.h>
/* libev first: libevent #defines EV_READ and EV_WRITE. */
#include <shard/adapters/libev.h>
#include <shard/adapters/libevent.h>
#include <shard/adapters/libuv.h>
"""

HELPERS = {
    "libevent": "#define EXAMPLE_STOP(u) event_base_loopbreak(u)\n",
    "libuv": "#define EXAMPLE_STOP(u) uv_stop(u)\n",
    "libev": "#define EXAMPLE_STOP(u) ev_break(u, EVBREAK_ALL)\n",
    "keys": 'static const char *keys[] = {"a", "b", "{user:1}:n"};\n'
            "static int n = 3;\n",
    "mywatcher": """\
typedef struct my_watcher { int fd; int events; void *loop; } my_watcher;
static my_watcher *my_watcher_new(void *loop, int fd)
{
    my_watcher *w = calloc(1, sizeof(*w));
    if (w != NULL) { w->loop = loop; w->fd = fd; }
    return w;
}
static void my_watcher_set(my_watcher *w, int events)
{
    if (w != NULL) w->events = events;
}
static void my_watcher_free(my_watcher *w) { free(w); }
""",
    "libevent-attached": """\
static struct event_base *base;
static void on_status(shard_pool *pool, const shard_reply *reply,
                      int status, void *userdata)
{
    (void)pool; (void)userdata;
    printf("status %d: %s\\n", status,
           reply && shard_reply_str(reply, NULL) ? shard_reply_str(reply, NULL)
                                                 : "-");
}
static void on_exec(shard_pool *pool, const shard_reply *reply, int status,
                    void *userdata)
{
    (void)pool; (void)userdata;
    printf("exec %d: %zu replies\\n", status, shard_reply_len(reply));
    event_base_loopbreak(base);
}
""",
}

ON_REPLY = """\
static void on_reply(shard_pool *pool, const shard_reply *reply, int status,
                     void *userdata)
{
    const char *s = reply ? shard_reply_str(reply, NULL) : NULL;
    (void)pool;
    printf("reply %d: %s\\n", status, s ? s : "(nil)");
    EXAMPLE_STOP(userdata);
}
"""

POOL_MAIN = """\
int main(void)
{
    shard_pool *pool;
    int rc = shard_pool_open(&pool, "nutcracker.yml", "%(pool)s", NULL);
    if (rc != SHARD_OK) {
        fprintf(stderr, "%%s\\n", shard_last_error());
        return 1;
    }
    %(attach)s
    rc = example(pool);
    %(free)s
    return rc;
}
"""


def blocks(path):
    """(line, mode words, code) of every ```c block of a Markdown file."""
    out, code, start, words = [], None, 0, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fence = re.match(r"^```(\S*)\s*(.*)$", line.rstrip("\n"))
            if code is None and fence and fence.group(1) == "c":
                code, start, words = [], n, fence.group(2).split()
            elif code is not None and line.startswith("```"):
                out.append((start, words, "".join(code)))
                code = None
            elif code is not None:
                code.append(line)
    return out


def program(words, code):
    """The C source of one example."""
    kind = words[0] if words else "main"
    helpers = "".join(HELPERS[w] for w in words[1:])
    if any(w in ("libevent", "libuv", "libev") for w in words[1:]):
        helpers += ON_REPLY
    if kind == "decl":
        return PRELUDE + helpers + code + "\nint main(void) { return 0; }\n"
    if kind == "main":
        return PRELUDE + helpers + "int main(void)\n{\n" + code + \
            "    return 0;\n}\n"
    if kind not in ("pool", "mcpool"):
        raise ValueError("unknown example kind %r" % kind)
    attach = ""
    if "libevent-attached" in words:
        attach = ("base = event_base_new();\n"
                  "    if (shard_libevent_attach(pool, NULL, base) != SHARD_OK)"
                  " return 1;")
    frees = "shard_pool_free(pool)" in code
    free = "" if frees else "shard_pool_free(pool);"
    if "libevent-attached" in words:
        free = (free + "\n    event_base_free(base);").strip()
    return (PRELUDE + helpers + "static int\nexample(shard_pool *pool)\n{\n" +
            code + "    return 0;\n}\n\n" +
            POOL_MAIN % {"attach": attach, "free": free,
                         "pool": "mc1" if kind == "mcpool" else "redis1"})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(workdir):
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server on %d did not start" % port)


def start_memcached():
    port = free_port()
    cmd = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0"]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("memcached on %d did not start" % port)


def compile_and_run(src, name, args, workdir):
    c_file = os.path.join(workdir, name + ".c")
    exe = os.path.join(workdir, name)
    with open(c_file, "w", encoding="utf-8") as f:
        f.write(src)
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror",
           "-Wno-unused-function", "-Wno-unused-parameter",
           "-I", os.path.join(args.source, "include"),
           "-I", os.path.join(args.build, "include"),
           c_file, "-o", exe, "-L", os.path.join(args.build, "lib"),
           "-lshard", "-Wl,-rpath," + os.path.join(args.build, "lib"),
           "-levent", "-luv", "-lev"]
    if args.sanitize:
        cmd.insert(1, "-fsanitize=" + args.sanitize)
    built = subprocess.run(cmd, capture_output=True, text=True)
    if built.returncode != 0:
        return "does not compile:\n" + built.stderr
    try:
        ran = subprocess.run([exe], cwd=workdir, capture_output=True,
                             text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "did not finish within 30 s"
    if ran.returncode != 0:
        return "exits with %d:\n%s%s" % (ran.returncode, ran.stdout,
                                         ran.stderr)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--build", required=True)
    parser.add_argument("--sanitize", default="")
    args = parser.parse_args()
    args.source = os.path.abspath(args.source)
    args.build = os.path.abspath(args.build)
    workdir = tempfile.mkdtemp(prefix="shard-examples.")
    servers = []
    failures = count = 0
    try:
        servers = [start_redis(workdir) for _ in range(2)]
        for _ in range(2):
            servers.append(start_memcached())
        memcacheds, servers_redis = servers[2:], servers[:2]
        with open(os.path.join(workdir, "nutcracker.yml"), "w") as f:
            f.write("redis1:\n  listen: 127.0.0.1:22121\n  redis: true\n"
                    "  hash_tag: \"{}\"\n  timeout: 2000\n  servers:\n" +
                    "".join("   - 127.0.0.1:%d:1\n" % p
                            for _, p in servers_redis))
            f.write("mc1:\n  listen: 127.0.0.1:22122\n  redis: false\n"
                    "  timeout: 2000\n  servers:\n" +
                    "".join("   - 127.0.0.1:%d:1\n" % p
                            for _, p in memcacheds))
        for doc in DOCS:
            path = os.path.join(args.source, doc)
            for line, words, code in blocks(path):
                count += 1
                name = "example_%d" % count
                why = compile_and_run(program(words, code), name, args,
                                      workdir)
                where = "%s:%d" % (doc, line)
                if why is None:
                    print("ok   %s" % where)
                else:
                    failures += 1
                    print("FAIL %s %s" % (where, why))
    finally:
        for proc, _ in servers:
            proc.terminate()
        for proc, _ in servers:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    print("%d examples, %d failed" % (count, failures))
    return 1 if failures or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

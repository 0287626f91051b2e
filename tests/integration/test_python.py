#!/usr/bin/env python3
"""The Python ctypes binding (examples/python/shard.py) against real servers.

Starts three redis-servers on free loopback ports, writes a twemproxy pool
over them, and drives it through shard.Pool. The servers are stopped when
the tests end, also when they fail. SHARD_LIB names the libshard.so to load.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python"))

import shard  # noqa: E402

SERVERS = 3
READY_TIMEOUT = 5.0  # seconds a redis-server may take to answer PING
START_ATTEMPTS = 3  # fresh ports tried when a start loses a port race
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """In the child: be killed when the test process dies, even by -9."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def resp_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def raw_call(port, *args):
    """One command to one server over a plain socket; the reply line.

    Enough for PING, EXISTS and DBSIZE, whose replies fit on one line.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(resp_command(*args))
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
    return data[:-2].decode()


class RedisServer:
    """A redis-server on a free loopback port in a directory of its own."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.log = None

    def start(self):
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self.log = os.path.join(self.workdir, "redis-%d.log" % self.port)
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(
                    ["redis-server", "--port", str(self.port),
                     "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--daemonize", "no",
                     "--dir", self.workdir],
                    stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
            if self._wait_ready():
                return
            self.stop()
        with open(self.log, errors="replace") as log:
            raise RuntimeError("redis-server did not start:\n" + log.read())

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # exited: most likely lost its port
            try:
                if raw_call(self.port, "PING") == "+PONG":
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def exists(self, key):
        return raw_call(self.port, "EXISTS", key) == ":1"


class PoolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="shard-python-")
        cls.addClassCleanup(shutil.rmtree, cls.workdir, True)
        cls.servers = []
        for _ in range(SERVERS):
            server = RedisServer(cls.workdir)
            # Registered first: stopped even if start() fails half way.
            cls.addClassCleanup(server.stop)
            server.start()
            cls.servers.append(server)
        cls.config = os.path.join(cls.workdir, "pool.yml")
        with open(cls.config, "w") as f:
            f.write("alpha:\n"
                    "  listen: 127.0.0.1:22121\n"
                    "  redis: true\n"
                    "  hash: fnv1a_64\n"
                    "  distribution: ketama\n"
                    "  timeout: 2000\n"
                    "  servers:\n")
            for s in cls.servers:
                f.write("   - 127.0.0.1:%d:1\n" % s.port)

    def setUp(self):
        self.pool = shard.Pool(self.config, "alpha")
        self.addCleanup(self.pool.close)
        self.by_index = {}
        for index, (_, addr) in enumerate(self.pool.servers()):
            port = int(addr.rsplit(":", 1)[1])
            self.by_index[index] = next(s for s in self.servers
                                        if s.port == port)

    def keys_on_every_server(self, prefix, per_server=2):
        """Keys such that every server gets `per_server` of them."""
        found = {i: [] for i in range(SERVERS)}
        n = 0
        while any(len(v) < per_server for v in found.values()):
            key = "%s:%d" % (prefix, n)
            n += 1
            if len(found[self.pool.locate(key)]) < per_server:
                found[self.pool.locate(key)].append(key)
        keys = [k for v in found.values() for k in v]
        keys.sort()  # interleave the servers in the request
        return keys

    def test_servers_are_the_three_in_the_config(self):
        servers = self.pool.servers()
        self.assertEqual(len(servers), SERVERS)
        self.assertEqual(sorted(int(a.rsplit(":", 1)[1]) for _, a in servers),
                         sorted(s.port for s in self.servers))
        self.assertEqual(self.pool.name, "alpha")

    def test_set_get_round_trip_binary_values(self):
        values = [b"", b"\x00", b"a\x00b\x00", bytes(range(256)),
                  b"\xff" * 10000]
        for i, value in enumerate(values):
            key = b"bin\x00key:%d" % i
            self.assertEqual(self.pool.command("SET", key, value), "OK")
            self.assertEqual(self.pool.command(b"GET", key), value)
        self.assertIsNone(self.pool.command("GET", "never-set"))
        self.assertEqual(self.pool.command("SET", "unicode", "été"), "OK")
        self.assertEqual(self.pool.command("GET", "unicode"),
                         "été".encode("utf-8"))

    def test_mget_split_across_servers_keeps_request_order(self):
        keys = self.keys_on_every_server("mget")
        for key in keys:
            self.pool.command("SET", key, "v-" + key)
        request = keys[:3] + ["mget:missing"] + keys[3:]
        expected = [b"v-" + k.encode() for k in keys[:3]] + [None] + \
                   [b"v-" + k.encode() for k in keys[3:]]
        self.assertEqual(self.pool.command("MGET", *request), expected)

    def test_del_sums_the_servers_counts(self):
        keys = self.keys_on_every_server("del")
        for key in keys:
            self.pool.command("SET", key, "x")
        self.assertEqual(self.pool.command("DEL", *keys, "del:missing"),
                         len(keys))
        self.assertEqual(self.pool.command("DEL", *keys), 0)

    def test_error_reply_is_returned_and_pool_stays_usable(self):
        reply = self.pool.command("NOSUCHCOMMAND", "key")
        self.assertIsInstance(reply, shard.ReplyError)
        self.assertTrue(reply.message)
        self.assertEqual(self.pool.command("INCR", "err:counter"), 1)
        self.pool.command("SET", "err:text", "abc")
        self.assertIsInstance(self.pool.command("INCR", "err:text"),
                              shard.ReplyError)
        self.assertEqual(self.pool.command("SET", "after", "ok"), "OK")
        self.assertEqual(self.pool.command("GET", "after"), b"ok")

    def test_locate_names_the_server_that_holds_the_key(self):
        for key in self.keys_on_every_server("where", per_server=3):
            self.assertEqual(self.pool.command("SET", key, "1"), "OK")
            index = self.pool.locate(key)
            holders = [i for i, s in self.by_index.items() if s.exists(key)]
            self.assertEqual(holders, [index], key)

    def test_bad_config_raises_shard_error(self):
        with self.assertRaises(shard.ShardError) as cm:
            shard.Pool(os.path.join(self.workdir, "no-such-file.yml"))
        self.assertLess(cm.exception.code, 0)
        self.assertIn("no-such-file.yml", str(cm.exception))

    def test_closed_pool_raises_and_context_manager_closes(self):
        with shard.Pool(self.config) as pool:
            self.assertEqual(pool.locate("k"), self.pool.locate("k"))
        with self.assertRaises(shard.ShardError):
            pool.command("GET", "k")

    def test_bad_argument_types_raise_type_error(self):
        with self.assertRaises(TypeError):
            self.pool.command("GET", 1.5)
        self.assertEqual(self.pool.command("SET", "num", 42), "OK")
        self.assertEqual(self.pool.command("GET", "num"), b"42")


if __name__ == "__main__":
    unittest.main(verbosity=2)

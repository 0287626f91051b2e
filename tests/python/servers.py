"""Real servers for the Python-driven tests (tests/python, tests/cli).

redis-server, memcached and nutcracker processes on free loopback ports, each in a
directory of the test's, killed with the test process even when it dies
(PR_SET_PDEATHSIG) and stopped by the fixtures when the tests end.
"""

import ctypes
import os
import signal
import socket
import subprocess
import time

READY_TIMEOUT = 5.0  # seconds a server may take to answer
START_ATTEMPTS = 3  # fresh ports tried when a start loses a port race
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """In the child: be killed when the test process dies, even by -9."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def resp(*args):
    """A command in RESP."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def raw_call(port, *args):
    """One command to one server over a plain socket; the first line of
    the reply (enough for PING, EXISTS, DBSIZE, SET)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(resp(*args))
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
    return data[:-2].decode()


class Process:
    """A server process on a free port; subclasses say how to start it."""

    name = "server"

    def __init__(self, workdir):
        self.workdir = workdir
        self.proc = None
        self.port = None
        self.log = None

    def argv(self):
        raise NotImplementedError

    def ready(self):
        raise NotImplementedError

    def start(self):
        for _ in range(START_ATTEMPTS):
            self.port = free_port()
            self.log = os.path.join(self.workdir,
                                    "%s-%d.log" % (self.name, self.port))
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(
                    self.argv(), stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            if self._wait_ready():
                return self
            self.stop()
        with open(self.log, errors="replace") as log:
            raise RuntimeError("%s did not start:\n%s"
                               % (self.name, log.read()))

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # exited: most likely lost its port
            try:
                if self.ready():
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
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port


class RedisServer(Process):
    name = "redis"

    def argv(self):
        return ["redis-server", "--port", str(self.port), "--bind",
                "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", self.workdir]

    def ready(self):
        return raw_call(self.port, "PING") == "+PONG"

    def exists(self, key):
        return raw_call(self.port, "EXISTS", key) == ":1"


def mc_call(port, line):
    """One memcached command line to one server over a plain socket; the
    first line of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(line.encode() + b"\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
    return data.split(b"\r\n", 1)[0].decode()


class MemcachedServer(Process):
    """memcached on TCP only (-U 0), as tests/harness starts it."""

    name = "memcached"

    def argv(self):
        argv = ["memcached", "-l", "127.0.0.1", "-p", str(self.port),
                "-U", "0"]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses root without -u
        return argv

    def ready(self):
        return mc_call(self.port, "version").startswith("VERSION ")

    def kill(self):
        """SIGKILL, as a crash: no goodbye to its clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Nutcracker(Process):
    """nutcracker on `config` (whose listen line it rewrites)."""

    name = "nutcracker"

    def __init__(self, workdir, pool_yaml):
        super().__init__(workdir)
        self.pool_yaml = pool_yaml  # the pool's YAML, listen: {listen}

    def argv(self):
        conf = os.path.join(self.workdir, "nutcracker-%d.yml" % self.port)
        with open(conf, "w") as f:
            f.write(self.pool_yaml.format(listen=self.addr))
        return ["nutcracker", "-c", conf, "-o", self.log + ".nc",
                "-s", str(free_port()), "-a", "127.0.0.1"]

    def ready(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            return True


def pool_yaml(name, servers, listen="127.0.0.1:22121", redis=True,
              **directives):
    """The YAML of one pool over `servers` (RedisServer, MemcachedServer
    or "host:port:weight" strings): Redis, or memcached (redis=False)."""
    lines = ["%s:" % name, "  listen: %s" % listen,
             "  redis: %s" % ("true" if redis else "false")]
    lines += ["  %s: %s" % (k, v) for k, v in directives.items()]
    lines.append("  servers:")
    for s in servers:
        lines.append("   - %s" % (s if isinstance(s, str)
                                   else "%s:1" % s.addr))
    return "\n".join(lines) + "\n"

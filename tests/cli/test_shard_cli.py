"""shard-cli against real servers: check as nutcracker -t, locate, commands
printed byte for byte as redis-cli prints them, the prompt in a pseudo
terminal, diff. Memcached pools: test_memcached.py."""

import glob
import os
import pty
import select
import subprocess
import time

import pytest

import libshard
from conftest import write
from servers import pool_yaml

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")


def redis_cli(port, *args, input=None, raw=True):
    argv = ["redis-cli", "-p", str(port)] + (["--no-raw"] if not raw else [])
    return subprocess.run(argv + [str(a) for a in args], input=input,
                          capture_output=True, timeout=30).stdout


# --- check ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["goodconf", "badconf"])
def test_check_accepts_and_rejects_what_nutcracker_t_does(cli, kind):
    files = sorted(glob.glob(os.path.join(DATA, kind, "*.yml")))
    assert files
    for path in files:
        nc = subprocess.run(["nutcracker", "-t", "-c", path],
                            capture_output=True).returncode
        ours = cli("check", path)
        assert (ours.returncode == 0) == (nc == 0), (path, ours.stderr)
        if nc == 0:
            assert "syntax is ok" in ours.stdout
        else:
            assert ours.returncode == 1
            assert "syntax is invalid" in ours.stderr
            assert os.path.basename(path) in ours.stderr  # file and line


def test_check_lists_pools_and_servers_in_twemproxy_order(cli, workdir):
    path = write(workdir, "two-pools.yml",
                 pool_yaml("alpha", ["127.0.0.1:7002:1", "127.0.0.1:7001:3",
                                     "10.0.0.1:6379:1 zeta"],
                           hash="murmur", distribution="modula",
                           hash_tag='"{}"')
                 + "beta:\n  listen: 127.0.0.1:22122\n  servers:\n"
                   "   - 127.0.0.1:11211:1\n")
    out = cli("check", path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert ("pool 'alpha': redis, hash murmur, distribution modula, "
            "hash_tag \"{}\", 3 servers") in lines
    assert ("pool 'beta': memcached, hash fnv1a_64, distribution ketama, "
            "1 server") in lines
    rows = [line.split() for line in lines if line.startswith("  ")]
    assert rows[0] == ["index", "identity", "address", "weight"]
    assert rows[1:4] == [["0", "zeta", "10.0.0.1:6379", "1"],
                         ["1", "127.0.0.1:7001", "127.0.0.1:7001", "3"],
                         ["2", "127.0.0.1:7002", "127.0.0.1:7002", "1"]]
    assert rows[5] == ["0", "127.0.0.1", "127.0.0.1:11211", "1"]


# --- locate ------------------------------------------------------------------

def locate_rows(stdout):
    """{key: (hashed, index, identity, address)} from locate's table."""
    lines = stdout.splitlines()
    assert lines[1].split() == ["key", "hashed", "index", "identity",
                                "address"]
    return {f[0]: (f[1], int(f[2]), f[3], f[4])
            for f in (line.split() for line in lines[2:])}


def test_locate_shows_hash_tag_index_identity_and_address(cli, four):
    keys = ["user:1", "{user:1}:cart", "a{b}c{d}", "{}x", "{unclosed",
            "x{y{z}w}"]
    out = cli("-c", four, "locate", *keys)
    assert out.returncode == 0, out.stderr
    rows = locate_rows(out.stdout)
    assert [rows[k][0] for k in keys] == [
        "user:1", "user:1", "b", "{}x", "{unclosed", "y{z"]
    with libshard.Pool(four) as pool:
        for key in keys:
            server = pool.locate(key)
            assert rows[key][1:] == (server.index, server.name, server.addr)
    assert rows["user:1"][1] == rows["{user:1}:cart"][1]


def test_locate_reads_keys_from_stdin(cli, four):
    out = cli("-c", four, "locate", input="k1\nk2\r\nk3\n")
    assert out.returncode == 0
    assert sorted(locate_rows(out.stdout)) == ["k1", "k2", "k3"]


def test_keys_land_where_locate_says(cli, four, redis_servers):
    by_addr = {s.addr: s for s in redis_servers}
    # The changing part first: fnv1a_64, as twemproxy keeps its low 32 bits,
    # puts keys that differ only in their last byte side by side.
    keys = ["%d:land" % i for i in range(40)]
    rows = locate_rows(cli("-c", four, "locate", *keys).stdout)
    for key in keys:
        assert cli("-c", four, "SET", key, "v").stdout == "OK\n"
        holders = [a for a, s in by_addr.items() if s.exists(key)]
        assert holders == [rows[key][3]]
    assert len({rows[k][3] for k in keys}) == 4  # every server got some


# --- commands, printed as redis-cli prints them --------------------------

REPLY_CASES = [
    ("SET", "s", 'x"y\\z\n\t\x01é'),
    ("GET", "s"),
    ("GET", "missing"),
    ("INCR", "counter"),
    ("INCR", "s"),
    ("RPUSH", "list", *[str(i) for i in range(12)]),
    ("LRANGE", "list", "0", "-1"),
    ("LRANGE", "nolist", "0", "-1"),
    ("HSET", "h", "f1", "v1", "f2", ""),
    ("HGETALL", "h"),
    ("EVAL", "return {1, {2, {3, 'x'}}, redis.status_reply('OK'), false, "
     "redis.error_reply('MYERR e')}", "0"),
    ("MGET", "s", "missing", "counter"),
    ("PING",),
    ("NOSUCHCOMMAND", "k"),
]


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "no-raw"])
def test_replies_print_byte_for_byte_as_redis_cli(cli, one, redis_servers,
                                                   raw):
    port = redis_servers[0].port
    for case in REPLY_CASES:
        flag = "--raw" if raw else "--no-raw"
        ours = cli("-c", one, flag, *case, binary=True)
        if case[0] in ("SET", "RPUSH", "HSET", "INCR"):
            # Writes: run them once, compare with what redis-cli prints
            # for a read of the same key.
            assert ours.returncode == 0
            continue
        theirs = redis_cli(port, *case, raw=raw)
        assert ours.stdout == theirs, case
        assert ours.returncode == 0


def test_commands_from_stdin_split_as_redis_cli_splits_them(cli, one,
                                                            redis_servers):
    lines = ('SET q "a b\\x41\\n"\nGET q\nSET q2 \'it\\\'s\'\nGET q2\n'
             'SET bad "unbalanced\nGET nope\n\n')
    for raw in (True, False):
        ours = cli("-c", one, "--raw" if raw else "--no-raw",
                   input=lines.encode(), binary=True)
        theirs = redis_cli(redis_servers[0].port, input=lines.encode(),
                           raw=raw)
        assert ours.stdout == theirs


def test_split_mget_and_per_server_commands(cli, four):
    keys = ["%d:mget" % i for i in range(20)]
    for key in keys:
        cli("-c", four, "SET", key, key)
    out = cli("-c", four, "--no-raw", "MGET", *keys, "none:mget")
    assert out.stdout.splitlines() == (
        ['%2d) "%s"' % (i + 1, k) for i, k in enumerate(keys)]
        + ["21) (nil)"])
    sizes = [int(cli("-c", four, "-s", i, "DBSIZE").stdout)
             for i in range(4)]
    assert sum(sizes) >= len(keys) and all(sizes)
    out = cli("-c", four, "-s", 4, "DBSIZE")
    assert out.returncode == 2 and "4 servers" in out.stderr


def test_repeat_runs_the_command_n_times(cli, one):
    cli("-c", one, "DEL", "rep")
    out = cli("-c", one, "-r", 5, "INCR", "rep")
    assert out.stdout.split() == ["1", "2", "3", "4", "5"]


def test_no_reply_is_a_failure_on_stderr(cli, workdir):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = write(workdir, "down.yml",
                 pool_yaml("down", ["127.0.0.1:%d:1" % port]))
    out = cli("-c", down, "GET", "k")
    assert out.returncode == 1
    assert out.stdout == ""
    assert "connection" in out.stderr.lower()


def test_usage_errors_exit_2(cli, four):
    assert cli().returncode == 2
    assert cli("-c", four, "-r", "x", "PING").returncode == 2
    assert cli("check").returncode == 2
    assert cli("diff", four).returncode == 2
    assert cli("--help").returncode == 0
    version = cli("--version")
    assert version.returncode == 0
    assert libshard.library_version() in version.stdout


# --- the prompt ---------------------------------------------------------------

class Terminal:
    """shard-cli in a pseudo terminal, read until a prompt shows."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(argv[0], argv, env)
        self.out = b""

    def read_until(self, token, timeout=10):
        deadline = time.monotonic() + timeout
        while token not in self.out:
            left = deadline - time.monotonic()
            assert left > 0, "no %r in %r" % (token, self.out)
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, "shard-cli ended: %r" % self.out
                self.out += chunk
        before, _, self.out = self.out.partition(token)
        return before

    def send(self, text):
        os.write(self.fd, text.encode())

    def close(self, timeout=10):
        """Waits for the end (after quit), then closes the terminal."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                os.close(self.fd)
                return status
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    os.read(self.fd, 4096)
                except OSError:
                    pass
        os.close(self.fd)  # hangs up: the child gets SIGHUP
        _, status = os.waitpid(self.pid, 0)
        return status


def test_prompt_edits_lines_and_keeps_history(cli, four, tmp_path):
    hist = tmp_path / "history"
    env = dict(os.environ, TERM="xterm", SHARD_CLI_HISTFILE=str(hist))
    term = Terminal([cli.path, "-c", four], env)
    try:
        term.read_until(b"alpha> ")
        term.send("SET prompt:k hello\r")
        assert b"OK" in term.read_until(b"alpha> ")
        term.send("GET prompt:x\x7fk\r")  # a typo, erased with backspace
        assert b'"hello"' in term.read_until(b"alpha> ")
        term.send("\x1b[A\r")  # up arrow: the last line again
        assert b'"hello"' in term.read_until(b"alpha> ")
        term.send("locate prompt:k\r")
        assert b"prompt:k" in term.read_until(b"alpha> ")
        term.send("quit\r")
    finally:
        status = term.close()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    # libedit's format: a header line, blanks written as \040.
    history = hist.read_text().replace("\\040", " ")
    assert "SET prompt:k hello" in history and "GET prompt:k" in history
    # A new session starts with that history: three lines up (past quit
    # and locate) is the GET.
    term = Terminal([cli.path, "-c", four], env)
    try:
        term.read_until(b"alpha> ")
        term.send("\x1b[A\x1b[A\x1b[A\r")
        assert b'"hello"' in term.read_until(b"alpha> ")
        term.send("exit\r")
    finally:
        term.close()


# --- diff ----------------------------------------------------------------------

def diff_summary(stdout):
    """(moved, total) from '  N of M keys change server (x%)'."""
    for line in stdout.splitlines():
        words = line.split()
        if words[1:3] == ["of", words[2]] and "change" in words:
            return int(words[0]), int(words[2])
    raise AssertionError(stdout)


def servers(n, first=7001):
    return ["127.0.0.1:%d:1" % p for p in range(first, first + n)]


def test_diff_same_file_moves_nothing(cli, workdir):
    a = write(workdir, "d-same.yml", pool_yaml("p", servers(4)))
    out = cli("diff", a, a, "--sample", 2000)
    assert out.returncode == 0, out.stderr
    assert diff_summary(out.stdout) == (0, 2000)


def test_diff_adding_a_server_moves_about_a_fifth_all_to_it(cli, workdir):
    a = write(workdir, "d-4.yml", pool_yaml("p", servers(4)))
    b = write(workdir, "d-5.yml", pool_yaml("p", servers(5)))
    out = cli("diff", a, b)
    assert out.returncode == 1
    moved, total = diff_summary(out.stdout)
    assert total == 100000
    assert 0.12 < moved / total < 0.28
    lines = out.stdout.splitlines()
    matrix = [line.split() for line in lines if line.startswith("  s")
              and len(line.split()) == 7]
    # Rows s0..s4 (s4 is new); every move goes to the new server s4.
    for row in matrix[:4]:
        assert row[1:5].count("-") == 3 and row[5] != "-"
    moving_in = next(line for line in lines if "moving in" in line).split()
    assert moving_in[2:] == ["0", "0", "0", "0", str(moved)]
    assert "new [4]" in out.stdout and "old -" in out.stdout


def test_diff_counts_exactly_what_libshard_places(cli, workdir, tmp_path):
    a = write(workdir, "d-w1.yml", pool_yaml("p", servers(3)))
    b = write(workdir, "d-w2.yml", pool_yaml(
        "p", ["127.0.0.1:7001:1", "127.0.0.1:7002:3", "127.0.0.1:7003:1"]))
    keys = ["user:%d" % i for i in range(3000)] + ["{user:1}:x", "é"]
    keyfile = tmp_path / "keys"
    keyfile.write_text("\n".join(keys) + "\n")
    out = cli("diff", a, b, "--keys", keyfile)
    with libshard.Pool(a) as old, libshard.Pool(b) as new:
        moved = sum(old.locate(k).addr != new.locate(k).addr for k in keys)
    assert diff_summary(out.stdout) == (moved, len(keys))
    assert out.returncode == (1 if moved else 0)


def test_diff_changing_the_hash_moves_most_keys(cli, workdir):
    a = write(workdir, "d-h1.yml", pool_yaml("p", servers(4)))
    b = write(workdir, "d-h2.yml", pool_yaml("p", servers(4), hash="murmur"))
    moved, total = diff_summary(cli("diff", a, b, "--sample", 5000).stdout)
    assert 0.6 < moved / total < 0.9  # about 3 in 4


def test_diff_picks_pools_by_name_and_refuses_random(cli, workdir):
    a = write(workdir, "d-m1.yml", pool_yaml("p", servers(2))
              + pool_yaml("q", servers(2, 8001), listen="127.0.0.1:22122"))
    b = write(workdir, "d-m2.yml", pool_yaml("q", servers(3, 8001),
                                             listen="127.0.0.1:22122"))
    out = cli("diff", a, b, "--sample", 1000)
    assert "pool 'q'" in out.stdout and "pool 'p'" not in out.stdout
    assert cli("diff", a, b, "-p", "p").returncode == 2
    r = write(workdir, "d-r.yml", pool_yaml("q", servers(3, 8001),
                                            listen="127.0.0.1:22122",
                                            distribution="random"))
    out = cli("diff", b, r)
    assert out.returncode == 2 and "random" in out.stderr

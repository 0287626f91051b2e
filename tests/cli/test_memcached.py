"""shard-cli on memcached pools: a command is the argv of
shard_mc_command_argv ("set k 0 0 v"), its reply printed as a Redis
reply is (raw and --no-raw); multi-key gets split over the servers;
refused keys; a dead server; -s refused."""

import itertools
import time

from conftest import write
from servers import MemcachedServer, mc_call, pool_yaml

_n = itertools.count()


def fresh(name):
    return "%s:%d:%d" % (name, next(_n), time.monotonic_ns())


def tty(cli, conf, *args):
    """A command with --no-raw; its stdout (exit status 0 checked)."""
    out = cli("-c", conf, "--no-raw", *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def on_each_server(cli, conf, prefix, per_server=2):
    """Keys, `per_server` for each server, from shard-cli locate. The
    number comes first: fnv1a_64 keeps 32 bits, so keys differing in
    their last byte only land next to each other on the ring."""
    keys = ["%d:%s" % (i, prefix) for i in range(64)]
    out = cli("-c", conf, "locate", *keys)
    assert out.returncode == 0, out.stderr
    found = {}
    for line in out.stdout.splitlines()[2:]:
        key, _, index, _, addr = line.split()
        found.setdefault(addr, [])
        if len(found[addr]) < per_server:
            found[addr].append(key)
    assert len(found) >= 2 and all(len(v) == per_server
                                   for v in found.values())
    return found


def test_storage_commands_print_memcached_statuses(cli, mc):
    k = fresh("st")
    assert tty(cli, mc, "set", k, "0", "0", "v") == "STORED\n"
    assert tty(cli, mc, "add", k, "0", "0", "w") == "NOT_STORED\n"
    assert tty(cli, mc, "replace", k, "0", "0", "v2") == "STORED\n"
    assert tty(cli, mc, "append", k, "0", "0", "+a") == "STORED\n"
    assert tty(cli, mc, "prepend", k, "0", "0", "p+") == "STORED\n"
    assert tty(cli, mc, "get", k) == '"p+v2+a"\n'
    assert tty(cli, mc, "get", fresh("miss")) == "(nil)\n"
    assert cli("-c", mc, "get", k).stdout == "p+v2+a\n"  # raw
    assert cli("-c", mc, "get", fresh("miss")).stdout == "\n"


def test_gets_cas_incr_decr_touch_delete_version(cli, mc):
    k, n = fresh("cas"), fresh("n")
    tty(cli, mc, "set", k, "42", "0", "one")
    lines = tty(cli, mc, "gets", k).splitlines()
    assert lines[:2] == ['1) "one"', "2) (integer) 42"]
    cas = lines[2].split()[-1]
    assert lines[2] == "3) (integer) %s" % cas and int(cas) > 0
    assert tty(cli, mc, "cas", k, "0", "0", "two", cas) == "STORED\n"
    assert tty(cli, mc, "cas", k, "0", "0", "three", cas) == "EXISTS\n"
    assert tty(cli, mc, "set", n, "0", "0", "10") == "STORED\n"
    assert tty(cli, mc, "incr", n, "5") == "(integer) 15\n"
    assert tty(cli, mc, "decr", n, "100") == "(integer) 0\n"
    assert tty(cli, mc, "incr", fresh("none"), "1") == "NOT_FOUND\n"
    tty(cli, mc, "set", n, "0", "0", str(2**64 - 2))
    # memcached counts in unsigned 64 bits: printed unsigned
    assert tty(cli, mc, "incr", n, "1") == "(integer) %d\n" % (2**64 - 1)
    assert cli("-c", mc, "decr", n, "1").stdout == "%d\n" % (2**64 - 2)
    assert tty(cli, mc, "touch", n, "100") == "TOUCHED\n"
    assert tty(cli, mc, "touch", fresh("none"), "1") == "NOT_FOUND\n"
    assert tty(cli, mc, "delete", n) == "DELETED\n"
    assert tty(cli, mc, "delete", n) == "NOT_FOUND\n"
    assert tty(cli, mc, "version").startswith("1.")


def test_multi_key_get_is_split_with_per_key_results(cli, mc,
                                                     memcached_servers):
    found = on_each_server(cli, mc, fresh("split"))
    keys = [k for group in zip(*found.values()) for k in group]
    pairs = [x for k in keys for x in (k, "v-" + k)]
    out = tty(cli, mc, "mset", "0", "0", *pairs)
    assert out.splitlines() == ["%d) STORED" % (i + 1)
                                for i in range(len(keys))]
    for addr, ks in found.items():  # each key only on its server
        for s in memcached_servers:
            for k in ks:
                assert mc_call(s.port, "get " + k).startswith(
                    "VALUE ") == (s.addr == addr)
    miss = fresh("miss")
    lines = tty(cli, mc, "get", *keys, miss).splitlines()
    assert lines == ['%d) "v-%s"' % (i + 1, k) for i, k in enumerate(keys)] \
        + ["%d) (nil)" % (len(keys) + 1)]
    raw = cli("-c", mc, "get", *keys, miss).stdout
    assert raw == "".join("v-%s\n" % k for k in keys) + "\n"


def test_bad_key_is_refused_and_the_pool_goes_on(cli, mc):
    k = fresh("ok")
    lines = ["set %s 0 0 fine" % k, 'get "a b"', "get " + "k" * 251,
             "GET " + k, "get " + k]
    out = cli("-c", mc, "--no-raw", input="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr  # error replies are replies
    got = out.stdout.splitlines()
    assert got[0] == "STORED"
    assert got[1].startswith("(error) ERR ") and "space" in got[1]
    assert got[2].startswith("(error) ERR ") and "251 bytes" in got[2]
    assert got[3].startswith("(error) ERR unknown memcached command 'GET'")
    assert got[4] == '"fine"'


def test_dead_server_is_named_and_the_others_answer(cli, workdir):
    servers = [MemcachedServer(workdir).start() for _ in range(2)]
    try:
        conf = write(workdir, "mc-dead.yml",
                     pool_yaml("dead", servers, redis=False, timeout=1000))
        found = on_each_server(cli, conf, "d")
        keys = [k for group in zip(*found.values()) for k in group]
        for k in keys:
            tty(cli, conf, "set", k, "0", "0", k)
        victim = servers[1]
        victim.kill()
        out = cli("-c", conf, "get", found[victim.addr][0])
        assert out.returncode == 1 and out.stdout == ""
        assert "server '%s'" % victim.addr in out.stderr
        lines = tty(cli, conf, "get", *keys).splitlines()
        for i, k in enumerate(keys):
            if k in found[victim.addr]:
                assert lines[i].startswith("%d) (error) ERR server '%s'"
                                           % (i + 1, victim.addr))
            else:
                assert lines[i] == '%d) "%s"' % (i + 1, k)
    finally:
        for s in servers:
            s.stop()


def test_server_option_is_refused_on_a_memcached_pool(cli, mc):
    out = cli("-c", mc, "-s", "0", "get", "k")
    assert out.returncode == 2 and out.stdout == ""
    assert "memcached pool" in out.stderr and "-s" in out.stderr
    out = cli("-c", mc, "-s", "0", input="get k\n")
    assert out.returncode == 2 and "memcached pool" in out.stderr
    assert cli("-c", mc, "-s", "0", "locate", "k").returncode == 0


def test_prompt_help_lists_memcached_commands(cli, mc):
    out = cli("-c", mc, input="help\n")
    assert out.returncode == 0
    assert "memcached command" in out.stdout
    assert "set|add|replace|append|prepend KEY FLAGS EXPTIME VALUE" in \
        out.stdout


def test_repeat_and_locate_agree_with_the_servers(cli, mc, memcached_servers):
    n = fresh("rep")
    tty(cli, mc, "set", n, "0", "0", "0")
    out = cli("-c", mc, "-r", "3", "incr", n, "2")
    assert out.stdout == "2\n4\n6\n"
    addr = cli("-c", mc, "locate", n).stdout.splitlines()[-1].split()[-1]
    port = next(s.port for s in memcached_servers if s.addr == addr)
    assert mc_call(port, "get " + n).startswith("VALUE ")

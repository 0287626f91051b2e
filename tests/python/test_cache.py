"""The Python package on memcached pools: Pool.mc_command() (every
memcached command by name) and the cache API (get, mget, set, mset, add,
delete, incr, decr, touch), which must give the same results on a Redis
pool and a memcached pool."""

import itertools
import time

import pytest

import libshard
from servers import MemcachedServer, mc_call, pool_yaml

_prefix = itertools.count()


def fresh(name):
    """A key no other test uses (the servers live for the whole run)."""
    return "%s:%d:%d" % (name, next(_prefix), time.monotonic_ns())


@pytest.fixture
def mc(mc_config):
    with libshard.Pool(mc_config, "beta") as p:
        yield p


@pytest.fixture(params=["redis", "memcached"])
def any_pool(request, config, mc_config):
    """A Redis pool and a memcached pool, one after the other."""
    if request.param == "redis":
        path, name = config, "alpha"
    else:
        path, name = mc_config, "beta"
    with libshard.Pool(path, name) as p:
        yield p


def keys_per_server(pool, prefix, per_server=2):
    """`per_server` keys for each server, the servers interleaved."""
    found = {s.index: [] for s in pool.servers}
    for n in itertools.count():
        if all(len(v) >= per_server for v in found.values()):
            break
        key = "%s:%d" % (prefix, n)
        index = pool.locate(key).index
        if len(found[index]) < per_server:
            found[index].append(key)
    return [k for group in zip(*found.values()) for k in group]


# --- mc_command: memcached's commands by name ------------------------------

def test_storage_commands_answer_memcached_statuses(mc):
    k = fresh("store")
    assert mc.mc_command("set", k, 0, 0, b"v") == "STORED"
    assert mc.mc_command("get", k) == b"v"
    assert mc.mc_command("add", k, 0, 0, "w") == "NOT_STORED"
    assert mc.mc_command("replace", k, 0, 0, "v2") == "STORED"
    assert mc.mc_command("replace", fresh("none"), 0, 0, "x") == "NOT_STORED"
    assert mc.mc_command("append", k, 0, 0, "+a") == "STORED"
    assert mc.mc_command("prepend", k, 0, 0, "p+") == "STORED"
    assert mc.mc_command("get", k) == b"p+v2+a"
    new = fresh("add")
    assert mc.mc_command("add", new, 0, 0, "first") == "STORED"
    assert mc.mc_command("get", new) == b"first"
    assert mc.mc_command("get", fresh("miss")) is None


def test_gets_and_cas_follow_the_cas_unique(mc):
    k = fresh("cas")
    assert mc.mc_command("set", k, 42, 0, "one") == "STORED"
    value, flags, cas = mc.mc_command("gets", k)
    assert (value, flags) == (b"one", 42) and cas > 0
    assert mc.mc_command("cas", k, 7, 0, "two", cas) == "STORED"
    assert mc.mc_command("cas", k, 0, 0, "three", cas) == "EXISTS"
    assert mc.mc_command("gets", k)[:2] == [b"two", 7]
    assert mc.mc_command("cas", fresh("none"), 0, 0, "x", 1) == "NOT_FOUND"
    assert mc.mc_command("gets", fresh("none")) is None


def test_incr_decr_touch_delete_version(mc):
    n = fresh("n")
    assert mc.mc_command("set", n, 0, 0, "10") == "STORED"
    assert mc.mc_command("incr", n, 5) == 15
    assert mc.mc_command("decr", n, 100) == 0  # memcached stops at 0
    assert mc.mc_command("incr", fresh("none"), 1) == "NOT_FOUND"
    big = fresh("big")
    mc.mc_command("set", big, 0, 0, str(2**64 - 2))
    assert mc.mc_command("incr", big, 1) == 2**64 - 1  # unsigned 64-bit
    assert mc.mc_command("touch", n, 100) == "TOUCHED"
    assert mc.mc_command("touch", fresh("none"), 100) == "NOT_FOUND"
    assert mc.mc_command("delete", n) == "DELETED"
    assert mc.mc_command("delete", n) == "NOT_FOUND"
    assert mc.mc_command("version").startswith("1.")


def test_binary_values_round_trip(mc):
    k = fresh("bin")
    value = b"\x00\r\nEND\r\n\xff" * 100
    assert mc.mc_command("set", k, 0, 0, value) == "STORED"
    assert mc.mc_command("get", k) == value
    mc.set(k, value)
    assert mc.get(k) == value


def test_multi_key_get_and_mset_split_across_servers(mc, memcached_servers):
    keys = keys_per_server(mc, fresh("split"), per_server=3)
    assert len({mc.locate(k).index for k in keys}) == len(memcached_servers)
    pairs = [x for k in keys[:-1] for x in (k, "v-" + k)]
    assert mc.mc_command("mset", 0, 0, *pairs) == ["STORED"] * (len(keys) - 1)
    expected = [("v-" + k).encode() for k in keys[:-1]] + [None]
    assert mc.mc_command("get", *keys) == expected
    assert mc.mget(keys) == expected
    gets = mc.mc_command("gets", *keys)
    assert [g[0] if g else None for g in gets] == expected
    # Each key is on the server locate() names, and only there.
    for k in keys[:-1]:
        for s in memcached_servers:
            held = mc_call(s.port, "get " + k).startswith("VALUE ")
            assert held == (s.addr == mc.locate(k).addr), (k, s.addr)


def test_server_errors_and_refused_commands_are_reply_errors(mc):
    k = fresh("text")
    mc.mc_command("set", k, 0, 0, "abc")
    with pytest.raises(libshard.ReplyError) as e:
        mc.mc_command("incr", k, 1)
    assert e.value.message.startswith("CLIENT_ERROR")
    with pytest.raises(libshard.ReplyError) as e:
        mc.mc_command("GET", k)  # names are lower case
    assert e.value.prefix == "ERR" and "unknown memcached command" in str(
        e.value)
    with pytest.raises(libshard.ReplyError):
        mc.mc_command("set", k, 0, 0)  # no value
    assert mc.mc_command("get", k) == b"abc"


@pytest.mark.parametrize("key,why", [("a b", "space"),
                                     ("k" * 251, "251 bytes"),
                                     ("a\nb", "control")])
def test_bad_key_is_refused_clearly_and_the_pool_goes_on(mc, key, why):
    with pytest.raises(libshard.ReplyError) as e:
        mc.mc_command("get", key)
    assert e.value.prefix == "ERR"
    assert why in str(e.value) or "0x" in str(e.value)
    with pytest.raises(libshard.InvalidArgumentError) as e:
        mc.get(key)
    assert e.value.code == -1 and isinstance(e.value, ValueError)
    assert "memcached keys" in e.value.message
    with pytest.raises(libshard.InvalidArgumentError):
        mc.set(key, "v")
    with pytest.raises(libshard.InvalidArgumentError):
        mc.mget(["fine", key])
    k = fresh("after")
    mc.set(k, "still here")
    assert mc.get(k) == b"still here"
    assert mc.mc_command("get", k) == b"still here"
    assert mc.get("k" * 250) is None  # 250 bytes is allowed


def test_mc_command_on_a_redis_pool_is_unsupported(config):
    with libshard.Pool(config, "alpha") as p:
        with pytest.raises(libshard.ShardError) as e:
            p.mc_command("get", "k")
        assert e.value.code == -11
        assert "Redis pool" in e.value.message


def test_dead_memcached_server_is_named_and_others_answer(workdir):
    servers = [MemcachedServer(workdir).start() for _ in range(2)]
    try:
        yaml = pool_yaml("gamma", servers, redis=False, timeout=1000)
        with libshard.Pool.from_yaml(yaml) as p:
            keys = keys_per_server(p, "dead", per_server=3)
            for k in keys:
                p.set(k, k)
            dead = p.servers[1].addr
            next(s for s in servers if s.addr == dead).kill()
            on_dead = [k for k in keys if p.locate(k).addr == dead]
            live = [k for k in keys if k not in on_dead]
            with pytest.raises(libshard.ShardConnectionError) as e:
                p.get(on_dead[0])
            assert dead in e.value.message and e.value.code in (-7, -8)
            with pytest.raises(libshard.ShardConnectionError) as e:
                p.mc_command("get", on_dead[0])
            assert dead in e.value.message
            with pytest.raises(libshard.ShardConnectionError):
                p.set(on_dead[0], "x")
            for values in (p.mget(keys), p.mc_command("get", *keys)):
                for k, v in zip(keys, values):
                    if k in on_dead:
                        assert isinstance(v, libshard.ReplyError), k
                        assert dead in v.message
                    else:
                        assert v == k.encode()
            stored = p.mset({k: "new" for k in keys})
            assert [r is True for r in stored] == [k in live for k in keys]
            assert p.get(live[0]) == b"new"
    finally:
        for s in servers:
            s.stop()


# --- the cache API: the same results on both backends ----------------------

def cache_script(pool):
    """Every cache call, with results that do not depend on the keys'
    names; returns them in order."""
    a, b, n, gone = (fresh(x) for x in ("a", "b", "n", "gone"))
    out = [pool.get(a), pool.set(a, b"\x00one"), pool.get(a),
           pool.add(a, "two"), pool.get(a), pool.add(b, "bee"),
           pool.mget([a, gone, b]), pool.mset({a: 1, b: "2"}, ttl=3600),
           pool.mget([a, b]), pool.incr(n), pool.set(n, "10"),
           pool.incr(n), pool.incr(n, 5), pool.decr(n, 100), pool.decr(n),
           pool.incr(n, 2**63 - 1), pool.touch(n, 3600), pool.touch(gone, 10),
           pool.delete(a), pool.delete(a), pool.get(a), pool.mget([]),
           pool.set(gone, "month", ttl=40 * 86400), pool.get(gone)]
    pool.set(a, "text")
    with pytest.raises(libshard.ShardError) as e:
        pool.incr(a)
    out.append(e.value.code)
    with pytest.raises(ValueError):
        pool.incr(n, 2**63)
    with pytest.raises(ValueError):
        pool.set(a, "v", ttl=-1)
    with pytest.raises(TypeError):
        pool.mget(a)  # one key, not a list of its characters
    return out


EXPECTED = [None, None, b"\x00one", False, b"\x00one", True,
            [b"\x00one", None, b"bee"], [True, True], [b"1", b"2"], None,
            None, 11, 16, 0, 0, 2**63 - 1, True, False, None, None, None,
            [], None, b"month", -13]


def test_cache_calls_give_the_documented_results(any_pool):
    assert cache_script(any_pool) == EXPECTED


def test_cache_calls_give_the_same_results_on_redis_and_memcached(
        config, mc_config):
    with libshard.Pool(config, "alpha") as r, \
            libshard.Pool(mc_config, "beta") as m:
        assert cache_script(r) == cache_script(m)
        keys = [fresh("same") for _ in range(20)]
        for pool in (r, m):
            assert pool.mset({k: k for k in keys[::2]}) == [True] * 10
        assert r.mget(keys) == m.mget(keys)


def test_expiry_means_the_same_on_both(any_pool):
    short, kept = fresh("short"), fresh("kept")
    any_pool.set(short, "x", ttl=1)
    any_pool.set(kept, "x")
    assert any_pool.add(fresh("added"), "x", ttl=1)
    assert any_pool.touch(kept, 1)
    time.sleep(2.2)
    assert any_pool.mget([short, kept]) == [None, None]


def test_a_shortening_decr_reads_back_padded_on_memcached_only(config,
                                                               mc_config):
    """The one documented difference (cache.h, shard_decr): memcached
    rewrites a shortened number in place, padded with spaces, and
    shard_get returns what memcached holds, as twemproxy would."""
    values = []
    for path in (config, mc_config):
        with libshard.Pool(path) as p:
            k = fresh("pad")
            p.set(k, "100")
            assert p.decr(k, 95) == 5
            values.append(p.get(k))
    assert values == [b"5", b"5  "]
    assert [int(v) for v in values] == [5, 5]

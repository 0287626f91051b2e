"""The libshard Python package (examples/python/libshard) against real
redis-servers: values, errors, pipelines, placement, stats, events."""

import os
import socket
import threading

import pytest

import libshard
from servers import RedisServer, pool_yaml


@pytest.fixture
def pool(config):
    with libshard.Pool(config, "alpha") as p:
        yield p


def keys_on_every_server(pool, prefix, per_server=2):
    """Keys such that every server gets `per_server` of them, sorted so
    that the servers interleave in a request."""
    found = {s.index: [] for s in pool.servers}
    n = 0
    while any(len(v) < per_server for v in found.values()):
        key = "%s:%d" % (prefix, n)
        n += 1
        index = pool.locate(key).index
        if len(found[index]) < per_server:
            found[index].append(key)
    return sorted(k for v in found.values() for k in v)


def test_servers_are_the_configs_in_twemproxy_order(pool, redis_servers):
    servers = pool.servers
    assert [s.index for s in servers] == [0, 1, 2]
    assert sorted(s.addr for s in servers) == \
        sorted(r.addr for r in redis_servers)
    assert [s.name for s in servers] == sorted(s.name for s in servers)
    assert pool.name == "alpha"
    assert "alpha" in repr(pool)


def test_values_come_back_as_python_types(pool):
    assert pool.command("SET", "t:str", "v") == "OK"  # a status is str
    assert pool.command("GET", "t:str") == b"v"  # a string is bytes
    assert pool.command("GET", "t:never-set") is None
    assert pool.command("INCR", "t:n") == 1
    assert pool.command("RPUSH", "{t}:l", "a", "b") == 2
    assert pool.command("LRANGE", "{t}:l", 0, -1) == [b"a", b"b"]
    assert pool.command("LRANGE", "{t}:empty", 0, -1) == []
    assert pool.command("INCRBY", "t:big", 2**62) == 2**62


def test_binary_and_text_arguments_round_trip(pool):
    values = [b"", b"\x00", b"a\x00b\x00", bytes(range(256)),
              b"\xff" * 10000, bytearray(b"ba"), memoryview(b"mv")]
    for i, value in enumerate(values):
        key = b"bin\x00key:%d" % i
        assert pool.command("SET", key, value) == "OK"
        assert pool.command(b"GET", key) == bytes(value)
    assert pool.command("SET", "t:unicode", "été") == "OK"
    assert pool.command("GET", "t:unicode") == "été".encode()
    assert pool.command("SET", "t:num", 42) == "OK"
    assert pool.command("GET", "t:num") == b"42"
    assert pool.command("SET", "t:float", 1.5) == "OK"
    assert pool.command("GET", "t:float") == b"1.5"


@pytest.mark.parametrize("bad", [None, True, object(), [1]])
def test_other_argument_types_raise_type_error(pool, bad):
    with pytest.raises(TypeError):
        pool.command("SET", "t:bad", bad)
    with pytest.raises(ValueError):
        pool.command()


def test_mget_split_across_servers_keeps_request_order(pool):
    keys = keys_on_every_server(pool, "mget")
    for key in keys:
        pool.command("SET", key, "v-" + key)
    request = keys[:3] + ["mget:missing"] + keys[3:]
    expected = [b"v-" + k.encode() for k in keys[:3]] + [None] + \
        [b"v-" + k.encode() for k in keys[3:]]
    assert pool.command("MGET", *request) == expected


def test_del_sums_the_servers_counts(pool):
    keys = keys_on_every_server(pool, "del")
    for key in keys:
        pool.command("SET", key, "x")
    assert pool.command("DEL", *keys, "del:missing") == len(keys)
    assert pool.command("DEL", *keys) == 0


def test_error_reply_is_raised_for_one_command(pool):
    pool.command("SET", "err:text", "abc")
    with pytest.raises(libshard.ReplyError) as e:
        pool.command("INCR", "err:text")
    assert e.value.prefix == "ERR"
    assert "not an integer" in e.value.message
    assert isinstance(e.value, libshard.Error)
    assert not isinstance(e.value, libshard.ShardError)
    with pytest.raises(libshard.ReplyError):
        pool.command("NOSUCHCOMMAND", "key")
    assert pool.command("SET", "err:after", "ok") == "OK"


def test_error_inside_an_array_is_an_element(pool):
    script = "return {1, redis.error_reply('MYERR boom'), 'x'}"
    value = pool.command("EVAL", script, 1, "err:k")
    assert value == [1, libshard.ReplyError("MYERR boom"), b"x"]
    assert value[1].prefix == "MYERR"


def test_libshard_refusal_is_a_reply_error(pool):
    keys = keys_on_every_server(pool, "refuse", per_server=1)
    with pytest.raises(libshard.ReplyError):
        pool.command("SUNION", *keys)


def test_locate_names_the_server_that_holds_the_key(pool, redis_servers):
    by_addr = {s.addr: s for s in redis_servers}
    for key in keys_on_every_server(pool, "where", per_server=3):
        pool.command("SET", key, "1")
        server = pool.locate(key)
        assert isinstance(server, libshard.Server)
        holders = [s.addr for s in redis_servers if s.exists(key)]
        assert holders == [server.addr] == [by_addr[server.addr].addr]


def test_hash_tag_puts_tagged_keys_together(pool):
    tagged = [pool.locate("{user:%d}:%s" % (7, s)).index
              for s in ("a", "b", "cart", "profile")]
    assert len(set(tagged)) == 1
    assert tagged[0] == pool.locate("user:7").index


def test_command_server_reaches_one_server(pool):
    for server in pool.servers:
        assert pool.command_server(server.index, "PING") == "PONG"
        assert isinstance(pool.command_server(server.index, "DBSIZE"), int)


def test_pipeline_returns_replies_in_order_with_errors_inside(pool):
    pool.command("DEL", "p:n", "p:text")
    pool.command("SET", "p:text", "abc")
    with pool.pipeline() as p:
        assert p.command("INCR", "p:n").command("INCR", "p:text") is p
        p.command("GET", "p:n").command("MGET", "p:n", "p:none")
        assert len(p) == 4
        results = p.execute()
        assert len(p) == 0
    assert results[0] == 1
    assert isinstance(results[1], libshard.ReplyError)
    assert results[2:] == [b"1", [b"1", None]]


def test_pipeline_raise_on_error_raises_after_every_reply(pool):
    pool.command("SET", "p2:text", "abc")
    p = pool.pipeline().command("INCR", "p2:text").command("INCR", "p2:n")
    before = pool.command("GET", "p2:n")
    with pytest.raises(libshard.ReplyError):
        p.execute(raise_on_error=True)
    after = pool.command("GET", "p2:n")
    assert int(after or 0) == int(before or 0) + 1  # the second ran too
    assert pool.pipeline().execute() == []


def test_pipeline_of_many_commands_over_every_server(pool):
    keys = ["many:%d" % i for i in range(500)]
    p = pool.pipeline()
    for i, key in enumerate(keys):
        p.command("SET", key, i)
    assert p.execute() == ["OK"] * len(keys)
    p = pool.pipeline()
    for key in keys:
        p.command("GET", key)
    assert p.execute() == [str(i).encode() for i in range(len(keys))]


def test_stats_count_the_requests(config):
    with libshard.Pool(config, "alpha") as p:
        for i in range(5):
            p.command("SET", "stats:%d" % i, i)
        stats = p.stats()
        assert stats["service"] == "libshard"
        assert set(stats["alpha"]) >= {s.name for s in p.servers}
        requests = sum(stats["alpha"][s.name]["requests"]
                       for s in p.servers)
        assert requests == 5
        assert "shard_" in p.stats_prometheus()


def test_stats_listen_serves_the_document(config):
    port = _free_port()
    with libshard.Pool(config, "alpha",
                       stats_listen="127.0.0.1:%d" % port) as p:
        p.command("SET", "listen:1", "x")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    assert b'"alpha"' in data


def test_closed_pool_raises_and_context_manager_closes(config):
    with libshard.Pool(config) as p:
        index = p.locate("k").index
    assert p.closed
    with pytest.raises(libshard.ShardError) as e:
        p.command("GET", "k")
    assert e.value.code == -12
    p.close()  # again: nothing happens
    with libshard.Pool(config) as again:
        assert again.locate("k").index == index


def test_config_errors_are_config_errors(workdir, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("alpha:\n  listen: 127.0.0.1:22121\n  hash: nope\n"
                   "  servers:\n   - 127.0.0.1:6379:1\n")
    with pytest.raises(libshard.ConfigError) as e:
        libshard.Pool(str(bad))
    assert isinstance(e.value, ValueError)
    assert e.value.code == -3
    assert "bad.yml:3" in str(e.value) and "hash" in str(e.value)
    with pytest.raises(libshard.ConfigError):
        libshard.check_config(str(bad))
    with pytest.raises(libshard.ShardError) as e:
        libshard.Pool(os.path.join(workdir, "no-such-file.yml"))
    assert "no-such-file.yml" in str(e.value)


def test_unknown_pool_is_a_config_error(config):
    with pytest.raises(libshard.ConfigError) as e:
        libshard.Pool(config, "nope")
    assert e.value.code == -4
    libshard.check_config(config)  # valid: nothing raised


def test_pool_from_yaml_text(redis_servers):
    text = pool_yaml("text", redis_servers[:2])
    with libshard.Pool.from_yaml(text) as p:
        assert p.name == "text"
        assert len(p.servers) == 2
        assert p.command("SET", "yaml:k", "v") == "OK"


def test_refused_connection_raises_connection_error(workdir):
    text = pool_yaml("down", ["127.0.0.1:%d:1" % _free_port()],
                     timeout=1000)
    with libshard.Pool.from_yaml(text) as p:
        with pytest.raises(ConnectionError) as e:
            p.command("GET", "k")
    assert isinstance(e.value, libshard.ShardConnectionError)
    assert e.value.code == -7


def test_silent_server_raises_timeout_error():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts through the backlog, never answers
    try:
        text = pool_yaml("silent", ["127.0.0.1:%d:1"
                                    % listener.getsockname()[1]],
                         timeout=200)
        with libshard.Pool.from_yaml(text) as p:
            with pytest.raises(TimeoutError) as e:
                p.command("GET", "k")
        assert isinstance(e.value, libshard.ShardTimeoutError)
        assert e.value.code == -6
        assert "timed out" in str(e.value)
    finally:
        listener.close()


def test_mget_with_a_server_down_gives_per_key_results(workdir):
    servers = [RedisServer(workdir).start() for _ in range(3)]
    try:
        with libshard.Pool.from_yaml(pool_yaml("partial", servers,
                                               timeout=2000)) as p:
            keys = keys_on_every_server(p, "partial", per_server=3)
            for key in keys:
                p.command("SET", key, key)
            dead = p.servers[1].addr
            next(s for s in servers if s.addr == dead).stop()
            values = p.command("MGET", *keys)
            for key, value in zip(keys, values):
                if p.locate(key).addr == dead:
                    assert isinstance(value, libshard.ReplyError), key
                else:
                    assert value == key.encode()
    finally:
        for s in servers:
            s.stop()


def test_events_report_connections(redis_servers):
    events = []
    text = pool_yaml("events", redis_servers[:1])
    with libshard.Pool.from_yaml(text, on_event=events.append) as p:
        p.command("SET", "events:k", "v")
    assert events and events[0].type == "connected"
    assert events[0].pool == "events"
    assert events[0].addr == redis_servers[0].addr


def test_one_pool_shared_by_threads(pool):
    pool.command("DEL", "threads:n")

    def work():
        for _ in range(200):
            pool.command("INCR", "threads:n")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pool.command("GET", "threads:n") == b"800"


def test_versions_agree():
    assert libshard.library_version() == libshard.__version__
    assert libshard.strerror(-6)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reload_takes_a_new_config_live_or_changes_nothing(redis_servers,
                                                            tmp_path):
    events = []
    small = pool_yaml("rl", redis_servers[:2])
    full = pool_yaml("rl", redis_servers)
    with libshard.Pool.from_yaml(small, on_event=events.append) as p, \
            libshard.Pool.from_yaml(full) as fresh:
        assert len(p.servers) == 2
        p.reload_yaml(full)
        assert p.servers == fresh.servers
        keys = ["%d:reload" % i for i in range(50)]
        assert [p.locate(k) for k in keys] == [fresh.locate(k) for k in keys]
        assert any(e.type == "reloaded" and e.server is None for e in events)
        bad = tmp_path / "bad.yml"
        bad.write_text(full.replace("redis: true", "redis: true\n  hash: no"))
        with pytest.raises(libshard.ConfigError):
            p.reload(str(bad))
        assert p.servers == fresh.servers
        path = tmp_path / "small.yml"
        path.write_text(small)
        p.reload(str(path))
        assert len(p.servers) == 2
        assert p.command("SET", "reload:k", "v") == "OK"

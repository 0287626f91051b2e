"""Fixtures for shard-cli's tests: SHARD_CLI names the binary; the
servers come from tests/python/servers.py."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python"))

from servers import MemcachedServer, RedisServer, pool_yaml  # noqa: E402


@pytest.fixture(scope="session")
def cli():
    """Runs shard-cli; returns the CompletedProcess (text, not checked)."""
    path = os.environ.get("SHARD_CLI")
    if not path:
        pytest.fail("SHARD_CLI is not set (meson test sets it)")

    def run(*args, input=None, binary=False):
        return subprocess.run([path] + [str(a) for a in args], input=input,
                              capture_output=True, text=not binary,
                              timeout=60)
    run.path = path
    return run


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="session")
def redis_servers(workdir):
    servers = []
    try:
        for _ in range(4):
            servers.append(RedisServer(workdir).start())
        yield servers
    finally:
        for s in servers:
            s.stop()


def write(workdir, name, text):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture(scope="session")
def four(workdir, redis_servers):
    """nutcracker.yml: pool alpha over the four servers, hash tag {}."""
    return write(workdir, "four.yml",
                 pool_yaml("alpha", redis_servers, hash_tag='"{}"',
                           timeout=2000))


@pytest.fixture(scope="session")
def one(workdir, redis_servers):
    """A pool of one server, to compare replies with redis-cli's."""
    return write(workdir, "one.yml",
                 pool_yaml("solo", redis_servers[:1], timeout=2000))


@pytest.fixture(scope="session")
def memcached_servers(workdir):
    servers = []
    try:
        for _ in range(2):
            servers.append(MemcachedServer(workdir).start())
        yield servers
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="session")
def mc(workdir, memcached_servers):
    """nutcracker.yml: memcached pool beta over the two memcached."""
    return write(workdir, "mc.yml",
                 pool_yaml("beta", memcached_servers, redis=False,
                           timeout=2000))

"""Fixtures for the Python package's tests: three redis-servers and two
memcached for the whole run, and pool configs over them. SHARD_LIB names the libshard.so;
examples/python is put first on sys.path so the package under test is
the repository's."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "python"))

from servers import MemcachedServer, RedisServer, pool_yaml  # noqa: E402

SERVERS = 3
MC_SERVERS = 2


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("servers"))


@pytest.fixture(scope="session")
def redis_servers(workdir):
    servers = []
    try:
        for _ in range(SERVERS):
            servers.append(RedisServer(workdir).start())
        yield servers
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="session")
def config(workdir, redis_servers):
    """nutcracker.yml with pool "alpha" over the servers."""
    path = os.path.join(workdir, "nutcracker.yml")
    with open(path, "w") as f:
        f.write(pool_yaml("alpha", redis_servers, hash="fnv1a_64",
                          distribution="ketama", hash_tag='"{}"',
                          timeout=2000))
    return path


@pytest.fixture(scope="session")
def memcached_servers(workdir):
    servers = []
    try:
        for _ in range(MC_SERVERS):
            servers.append(MemcachedServer(workdir).start())
        yield servers
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="session")
def mc_config(workdir, memcached_servers):
    """nutcracker.yml with memcached pool "beta" over the memcached."""
    path = os.path.join(workdir, "memcached.yml")
    with open(path, "w") as f:
        f.write(pool_yaml("beta", memcached_servers, redis=False,
                          hash="fnv1a_64", distribution="ketama",
                          timeout=2000))
    return path

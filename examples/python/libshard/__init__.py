"""libshard from Python: a twemproxy (nutcracker) pool without the proxy.

    import libshard

    with libshard.Pool("nutcracker.yml", "alpha") as pool:
        pool.command("SET", "user:1", b"\\x00binary\\xff")   # 'OK'
        pool.command("GET", "user:1")        # b'\\x00binary\\xff'
        pool.command("MGET", "user:1", "nope")  # [b'\\x00binary\\xff', None]
        pool.locate("user:1")     # Server(index=2, name=..., addr=...)
        with pool.pipeline() as p:
            p.command("INCR", "n").command("GET", "n")
            p.execute()           # [1, b'1']
        pool.stats()["alpha"]["requests"]

    # The cache API: the same calls and results on Redis and memcached
    # pools; on a memcached pool, its own commands by name too.
    with libshard.Pool("nutcracker.yml", "cache") as cache:
        cache.set("user:1", b"ada", ttl=3600)
        cache.get("user:1")                    # b'ada' (None: a miss)
        cache.mget(["user:1", "nope"])         # [b'ada', None]
        cache.add("user:1", b"bob")            # False: it exists
        cache.incr("n"), cache.touch("n", 60), cache.delete("n")
        cache.mc_command("set", "k", 0, 0, b"v")   # 'STORED'
        cache.mc_command("get", "k", "x")          # [b'v', None]

Keys go to exactly the server twemproxy 0.5 would choose from the same
file; MGET, DEL, UNLINK, TOUCH, EXISTS and MSET are split across servers
and joined. Replies are bytes, str (a status), int, None, list; an error
reply is raised as ReplyError, or sits in a list in place of its value;
ShardError (also TimeoutError or ConnectionError) means no reply, or a
cache call that failed (InvalidArgumentError, also a ValueError: a key
memcached cannot take).

Pure Python over ctypes: it needs libshard.so installed (``meson
install``), not a compiler. ``libshard.load(path)`` picks a library.
"""

from ._native import load
from ._version import __version__
from .errors import (ConfigError, Error, InvalidArgumentError, ReplyError,
                     ShardConnectionError, ShardError, ShardTimeoutError)
from .pool import Event, Pipeline, Pool, Server

__all__ = [
    "ConfigError", "Error", "Event", "InvalidArgumentError", "Pipeline",
    "Pool", "ReplyError",
    "Server", "ShardConnectionError", "ShardError", "ShardTimeoutError",
    "check_config", "load", "library_version", "strerror",
    "__version__",
]


def library_version():
    """The version of the libshard.so in use, "MAJOR.MINOR.PATCH"."""
    from . import _native
    return _native.text(_native.lib().shard_version())


def strerror(code):
    """libshard's description of a SHARD_E* code."""
    from . import _native
    return _native.text(_native.lib().shard_strerror(code))


def check_config(path):
    """Checks a config as ``nutcracker -t`` does; raises ConfigError (or
    ShardError for an unreadable file) with the file, line, pool and
    directive when it is invalid."""
    import os
    from . import _native
    from .errors import from_code
    lib = _native.lib()
    rc = lib.shard_config_check(os.fsencode(path))
    if rc != 0:
        raise from_code(rc, _native.text(lib.shard_last_error()))

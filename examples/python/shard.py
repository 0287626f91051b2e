"""libshard from Python, through ctypes and nothing else.

A small binding of libshard's blocking Redis API:

    import shard

    with shard.Pool("nutcracker.yml", "alpha") as pool:
        pool.command("SET", "user:1", b"\\x00binary\\xff")
        pool.command("GET", "user:1")            # b'\\x00binary\\xff'
        pool.command("MGET", "user:1", "nope")   # [b'\\x00binary\\xff', None]
        pool.locate("user:1")                     # index of its server
        pool.servers()                            # [(name, addr), ...]

Replies become Python values: a string reply is ``bytes``, an integer
``int``, a nil ``None``, an array a ``list``, a status (``OK``) a ``str``.

An error reply from Redis, or from libshard refusing a command, is
*returned* as a ``ReplyError`` instance, not raised. That follows the C
API, where an error reply is a reply and not a failure, and it keeps the
per-key results of a split command usable: one failed element of an array
does not hide the others. Check with ``isinstance(value, shard.ReplyError)``,
or raise it yourself.

``ShardError`` is raised when no reply could be had at all (a negative
SHARD_E* code: timeout, connection failure, bad argument...); its ``code``
is that number and its message says why.

The library is found, in this order: the ``path`` given to ``load()``;
the environment variable ``SHARD_LIB``; ``ctypes.util.find_library
("shard")``; ``BUILD_DIR/lib/libshard.so`` for the ``build_dir`` given to
``load()``. ``Pool`` calls ``load()`` with no arguments when nothing has
been loaded yet.

A pool is used by one thread at a time, as in C.
"""

import ctypes
import ctypes.util
import os

__all__ = ["Pool", "ShardError", "ReplyError", "load", "strerror"]

# Reply types, as in include/shard/redis.h.
REPLY_STRING = 1
REPLY_ARRAY = 2
REPLY_INTEGER = 3
REPLY_NIL = 4
REPLY_STATUS = 5
REPLY_ERROR = 6

_lib = None


class ShardError(Exception):
    """A libshard call failed: no reply could be had."""

    def __init__(self, code, message):
        super().__init__("%s (%d)" % (message, code))
        self.code = code


class ReplyError(Exception):
    """An error reply, returned (not raised) by Pool.command()."""

    def __eq__(self, other):
        return (isinstance(other, ReplyError)
                and self.args == other.args)

    def __hash__(self):
        return hash(self.args)

    @property
    def message(self):
        return self.args[0] if self.args else ""


def _declare(lib):
    """Sets argtypes and restype of every function this module calls."""
    p = ctypes.c_void_p
    cstr = ctypes.c_char_p
    size = ctypes.c_size_t
    sigs = {
        "shard_pool_open": (ctypes.c_int,
                            [ctypes.POINTER(p), cstr, cstr, p]),
        "shard_pool_open_string": (ctypes.c_int,
                                   [ctypes.POINTER(p), cstr, size, cstr,
                                    p]),
        "shard_pool_free": (None, [p]),
        "shard_pool_errmsg": (cstr, [p]),
        "shard_pool_name": (cstr, [p]),
        "shard_last_error": (cstr, []),
        "shard_strerror": (cstr, [ctypes.c_int]),
        "shard_version": (cstr, []),
        "shard_pool_locate": (ctypes.c_int, [p, cstr, size]),
        "shard_pool_server_count": (size, [p]),
        "shard_pool_server_name": (cstr, [p, size]),
        "shard_pool_server_addr": (cstr, [p, size]),
        "shard_command_argv": (ctypes.c_int,
                               [p, ctypes.POINTER(p), ctypes.c_int,
                                ctypes.POINTER(cstr),
                                ctypes.POINTER(size)]),
        "shard_reply_type": (ctypes.c_int, [p]),
        # A pointer, not c_char_p: the bytes may hold NULs.
        "shard_reply_str": (p, [p, ctypes.POINTER(size)]),
        "shard_reply_integer": (ctypes.c_longlong, [p]),
        "shard_reply_len": (size, [p]),
        "shard_reply_at": (p, [p, size]),
        "shard_reply_free": (None, [p]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def _find(path, build_dir):
    if path:
        return path
    if os.environ.get("SHARD_LIB"):
        return os.environ["SHARD_LIB"]
    found = ctypes.util.find_library("shard")
    if found:
        return found
    if build_dir:
        return os.path.join(build_dir, "lib", "libshard.so")
    raise OSError("libshard not found: set SHARD_LIB, install it, or "
                  "pass build_dir to shard.load()")


def load(path=None, build_dir=None):
    """Loads libshard (see the module doc for where it looks)."""
    global _lib
    _lib = _declare(ctypes.CDLL(_find(path, build_dir)))
    return _lib


def _library():
    return _lib if _lib is not None else load()


def _text(raw):
    return raw.decode("utf-8", "replace") if raw is not None else ""


def strerror(code):
    """libshard's description of a SHARD_E* code."""
    return _text(_library().shard_strerror(code))


def version():
    """The version of the loaded libshard, "MAJOR.MINOR.PATCH"."""
    return _text(_library().shard_version())


def _arg(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode("ascii")
    raise TypeError("command arguments are bytes, str or int, not %s"
                    % type(value).__name__)


def _convert(lib, reply):
    """A reply as a Python value (see the module doc)."""
    kind = lib.shard_reply_type(reply)
    if kind == REPLY_NIL:
        return None
    if kind == REPLY_INTEGER:
        return lib.shard_reply_integer(reply)
    if kind == REPLY_ARRAY:
        return [_convert(lib, lib.shard_reply_at(reply, i))
                for i in range(lib.shard_reply_len(reply))]
    length = ctypes.c_size_t()
    ptr = lib.shard_reply_str(reply, ctypes.byref(length))
    data = ctypes.string_at(ptr, length.value) if ptr else b""
    if kind == REPLY_STRING:
        return data
    if kind == REPLY_STATUS:
        return _text(data)
    if kind == REPLY_ERROR:
        return ReplyError(_text(data))
    raise ShardError(-9, "reply of unknown type %d" % kind)


class Pool:
    """One pool of a nutcracker.yml, opened through libshard."""

    def __init__(self, config_path, name=None, _handle=None):
        self._lib = _library()
        self._pool = _handle
        if self._pool is not None:
            return
        handle = ctypes.c_void_p()
        rc = self._lib.shard_pool_open(
            ctypes.byref(handle), os.fsencode(config_path),
            _arg(name) if name is not None else None, None)
        if rc != 0:
            raise ShardError(rc, _text(self._lib.shard_last_error()))
        self._pool = handle.value

    @classmethod
    def from_string(cls, yaml_text, name=None):
        """Opens a pool from YAML text instead of a file."""
        lib = _library()
        data = _arg(yaml_text)
        handle = ctypes.c_void_p()
        rc = lib.shard_pool_open_string(
            ctypes.byref(handle), data, len(data),
            _arg(name) if name is not None else None, None)
        if rc != 0:
            raise ShardError(rc, _text(lib.shard_last_error()))
        return cls(None, _handle=handle.value)

    def close(self):
        """Frees the pool; further calls raise ShardError."""
        if self._pool is not None:
            self._lib.shard_pool_free(self._pool)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "_pool", None) is not None:
            self.close()

    def _handle(self):
        if self._pool is None:
            raise ShardError(-12, "the pool is closed")
        return self._pool

    def _fail(self, rc):
        return ShardError(rc, _text(self._lib.shard_pool_errmsg(self._pool))
                          or strerror(rc))

    @property
    def name(self):
        """The pool's name in the config."""
        return _text(self._lib.shard_pool_name(self._handle()))

    def command(self, *args):
        """Sends one command; returns its reply as a Python value.

        Arguments are bytes, str (sent as UTF-8) or int. An error reply is
        returned as a ReplyError; ShardError is raised when libshard could
        get no reply at all.
        """
        if not args:
            raise ValueError("command() needs at least the command name")
        pool = self._handle()
        data = [_arg(a) for a in args]
        argv = (ctypes.c_char_p * len(data))(*data)
        lens = (ctypes.c_size_t * len(data))(*[len(d) for d in data])
        reply = ctypes.c_void_p()
        rc = self._lib.shard_command_argv(pool, ctypes.byref(reply),
                                          len(data), argv, lens)
        if rc != 0:
            raise self._fail(rc)
        try:
            return _convert(self._lib, reply.value)
        finally:
            self._lib.shard_reply_free(reply.value)

    def locate(self, key):
        """The index of the server `key` goes to (see servers())."""
        data = _arg(key)
        index = self._lib.shard_pool_locate(self._handle(), data, len(data))
        if index < 0:
            raise self._fail(index)
        return index

    def servers(self):
        """[(name, addr), ...] in libshard's (twemproxy's) server order."""
        pool = self._handle()
        count = self._lib.shard_pool_server_count(pool)
        return [(_text(self._lib.shard_pool_server_name(pool, i)),
                 _text(self._lib.shard_pool_server_addr(pool, i)))
                for i in range(count)]

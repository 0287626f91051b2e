"""Pool and Pipeline: a pool of a nutcracker.yml through libshard."""

import collections
import ctypes
import json
import os
import threading

from . import _native
from .errors import (ESTATE, ReplyError, ShardError, from_code)

# Reply types, as in include/shard/reply.h.
REPLY_STRING = 1
REPLY_ARRAY = 2
REPLY_INTEGER = 3
REPLY_NIL = 4
REPLY_STATUS = 5
REPLY_ERROR = 6

# Event types, as in include/shard/common.h.
EVENT_NAMES = {
    1: "connected",
    2: "connect_failed",
    3: "disconnected",
    4: "ejected",
    5: "returned",
    6: "probe_ok",
    7: "probe_failed",
    8: "reloaded",
    9: "switched",
}
EVENT_POOL = 2**64 - 1  # shard_event.server of an event about the pool

Server = collections.namedtuple("Server", "index name addr")
Server.__doc__ = """A server of the pool: its index (twemproxy's order), its
identity (what ketama hashes: its name or "host:port") and its address."""

Event = collections.namedtuple(
    "Event", "type pool server identity addr status reason delay_ms")
Event.__doc__ = """Something that happened to a server (on_event): type is
one of "connected", "connect_failed", "disconnected", "ejected",
"returned", "probe_ok", "probe_failed", "switched" (Sentinel gave it a new
address), or "reloaded" (the whole pool: server is None); status a
SHARD_E* code or 0."""


def encode(value):
    """A command argument as bytes: bytes-like as is, str as UTF-8, int
    and float in decimal."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value).encode("ascii")
    raise TypeError("command arguments are bytes, str, int or float, not %s"
                    % type(value).__name__)


def _array(items, what):
    """bytes of each item, as a c_char_p array and a size_t array."""
    data = [encode(i) for i in items]
    if not data:
        raise ValueError("%s: no keys" % what)
    return (len(data), (ctypes.c_char_p * len(data))(*data),
            (ctypes.c_size_t * len(data))(*[len(d) for d in data]))


def _ttl(ttl):
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise TypeError("ttl is an int of seconds, not %s"
                        % type(ttl).__name__)
    if not 0 <= ttl < 2**32:
        raise ValueError("ttl must be 0 (no expiry) to 2**32 - 1 seconds, "
                         "not %d" % ttl)
    return ttl


def _delta(delta):
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise TypeError("delta is an int, not %s" % type(delta).__name__)
    if not 0 <= delta < 2**63:
        raise ValueError("delta must be 0 to 2**63 - 1, not %d" % delta)
    return delta


def _argv(args):
    if not args:
        raise ValueError("a command needs at least its name")
    data = [encode(a) for a in args]
    argv = (ctypes.c_char_p * len(data))(*data)
    lens = (ctypes.c_size_t * len(data))(*[len(d) for d in data])
    return len(data), argv, lens


def _value(lib, reply, unsigned=False):
    """A reply as a Python value; an error reply as a ReplyError.
    ``unsigned``: integers are unsigned 64-bit (memcached's incr, decr)."""
    kind = lib.shard_reply_type(reply)
    if kind == REPLY_NIL:
        return None
    if kind == REPLY_INTEGER:
        number = lib.shard_reply_integer(reply)
        return number % 2**64 if unsigned else number
    if kind == REPLY_ARRAY:
        return [_value(lib, lib.shard_reply_at(reply, i), unsigned)
                for i in range(lib.shard_reply_len(reply))]
    length = ctypes.c_size_t()
    ptr = lib.shard_reply_str(reply, ctypes.byref(length))
    data = ctypes.string_at(ptr, length.value) if ptr else b""
    if kind == REPLY_STRING:
        return data
    if kind == REPLY_STATUS:
        return data.decode("utf-8", "replace")
    if kind == REPLY_ERROR:
        return ReplyError(data.decode("utf-8", "replace"))
    raise ShardError(-9, "a reply of unknown type %d" % kind)


def _take(lib, reply, unsigned=False):
    """Converts and frees a reply from a blocking call."""
    try:
        return _value(lib, reply, unsigned)
    finally:
        lib.shard_reply_free(reply)


class Pool:
    """One pool of a twemproxy config (nutcracker.yml), through libshard.

    ``Pool(path, name)`` opens pool ``name`` of the file (``name`` may be
    left out when the file has one pool). Options:

    - ``stats_listen="127.0.0.1:22222"``: serve the stats document there,
      as nutcracker's stats port does;
    - ``watch_config=True``: reload the file when it changes;
    - ``on_event=fn``: ``fn(Event)`` for connects, ejections, returns;
    - ``on_log=fn``, ``log_level=2``: ``fn(level, message)`` for the
      library's log lines up to that level (0 errors ... 3 debug).

    The callbacks run inside the pool's calls and must not call the pool.
    A pool may be shared between threads: its calls take turns.
    """

    def __init__(self, config, name=None, *, stats_listen=None,
                 watch_config=False, on_event=None, on_log=None,
                 log_level=1, _yaml=None):
        self._lib = _native.lib()
        self._lock = threading.RLock()
        self._pool = None
        self._callbacks = ()
        opts = self._options(stats_listen, watch_config, on_event, on_log,
                             log_level)
        handle = ctypes.c_void_p()
        cname = encode(name) if name is not None else None
        if _yaml is not None:
            rc = self._lib.shard_pool_open_string(
                ctypes.byref(handle), _yaml, len(_yaml), cname, opts)
        else:
            rc = self._lib.shard_pool_open(
                ctypes.byref(handle), os.fsencode(config), cname, opts)
        if rc != 0:
            raise from_code(rc, _native.text(self._lib.shard_last_error()))
        self._pool = handle.value

    @classmethod
    def from_yaml(cls, text, name=None, **options):
        """Opens a pool from the text of a config instead of a file."""
        return cls(None, name, _yaml=encode(text), **options)

    def _options(self, stats_listen, watch_config, on_event, on_log,
                 log_level):
        opts = _native.Options()
        rc = self._lib.shard_options_init(ctypes.byref(opts),
                                          _native.OPTIONS_VERSION)
        if rc != 0:
            raise from_code(rc, _native.text(self._lib.shard_last_error()))
        if stats_listen is not None:
            opts.stats_listen = encode(stats_listen)
        opts.watch_config = 1 if watch_config else 0
        callbacks = []
        if on_event is not None:
            opts.event_fn = _native.EVENT_FN(
                lambda ev, _: on_event(_event(ev.contents)))
            callbacks.append(opts.event_fn)
        if on_log is not None:
            opts.log_fn = _native.LOG_FN(
                lambda level, msg, _: on_log(level, _native.text(msg)))
            opts.log_level = log_level
            callbacks.append(opts.log_fn)
        # ctypes frees a callback with its last reference: keep them.
        self._callbacks = tuple(callbacks)
        return ctypes.byref(opts)

    # --- lifetime -----------------------------------------------------------

    def close(self):
        """Frees the pool; later calls raise ShardError. Idempotent."""
        with self._lock:
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

    @property
    def closed(self):
        return self._pool is None

    def _handle(self):
        if self._pool is None:
            raise ShardError(ESTATE, "the pool is closed")
        return self._pool

    def _fail(self, rc):
        message = _native.text(self._lib.shard_pool_errmsg(self._pool))
        return from_code(rc, message or _native.text(
            self._lib.shard_strerror(rc)))

    def reload(self, config):
        """Takes the pool's pool of the file ``config`` live (see
        shard_pool_reload): validated whole first; on failure nothing
        changed and ConfigError or ShardError says why."""
        with self._lock:
            rc = self._lib.shard_pool_reload(self._handle(),
                                             os.fsencode(config))
            if rc != 0:
                raise self._fail(rc)

    def reload_yaml(self, text):
        """As reload(), with the text of a config."""
        data = encode(text)
        with self._lock:
            rc = self._lib.shard_pool_reload_string(self._handle(), data,
                                                    len(data))
            if rc != 0:
                raise self._fail(rc)

    # --- the pool and its servers -----------------------------------------

    @property
    def name(self):
        """The pool's name in the config."""
        with self._lock:
            return _native.text(self._lib.shard_pool_name(self._handle()))

    @property
    def servers(self):
        """The servers, a list of Server in twemproxy's order."""
        with self._lock:
            pool = self._handle()
            return [self._server(pool, i) for i in
                    range(self._lib.shard_pool_server_count(pool))]

    def _server(self, pool, index):
        return Server(index,
                      _native.text(self._lib.shard_pool_server_name(pool,
                                                                     index)),
                      _native.text(self._lib.shard_pool_server_addr(pool,
                                                                     index)))

    def locate(self, key):
        """The Server that ``key`` goes to, as twemproxy would choose it."""
        data = encode(key)
        with self._lock:
            pool = self._handle()
            index = self._lib.shard_pool_locate(pool, data, len(data))
            if index < 0:
                raise self._fail(index)
            return self._server(pool, index)

    # --- commands ------------------------------------------------------------

    def command(self, *args):
        """Sends one command and returns its reply as a Python value.

        Arguments are bytes, str (sent as UTF-8), int or float. A string
        reply is bytes, a status ("OK") str, an integer int, nil None, an
        array a list (where an error element is a ReplyError). An error
        reply is raised as ReplyError; ShardError (TimeoutError,
        ConnectionError) when no reply could be had.
        """
        return self._raise_reply(self._call(None, args))

    def command_server(self, index, *args):
        """As command(), to server ``index`` only and with no key check:
        for INFO, DBSIZE, KEYS, SCAN, FLUSHDB..."""
        return self._raise_reply(self._call(index, args))

    def mc_command(self, *args):
        """Sends one memcached command (a ``redis: false`` pool) and
        returns its reply, as command() does for Redis.

        The arguments are the words of memcached's ASCII protocol without
        the byte count, the value in its place, names in lower case
        (shard_mc_command_argv in <shard/memcached.h>)::

            pool.mc_command("set", "k", 0, 0, b"v")   # 'STORED'
            pool.mc_command("get", "k")               # b'v' (None: a miss)
            pool.mc_command("get", "k", "x")          # [b'v', None]
            pool.mc_command("gets", "k")              # [b'v', 0, cas]
            pool.mc_command("incr", "n", 1)           # an int, or 'NOT_FOUND'

        A status ("STORED", "NOT_FOUND") is str, a value bytes, an
        integer int (incr and decr: unsigned 64-bit). An error reply
        (from the server, or libshard refusing a command or a key) is
        raised as ReplyError; in a multi-key get a ReplyError naming a
        failed server stands in place of each of its keys. ShardError
        when no reply could be had (code SHARD_EUNSUPPORTED, -11, on a
        Redis pool).
        """
        argc, argv, lens = _argv(args)
        reply = ctypes.c_void_p()
        with self._lock:
            rc = self._lib.shard_mc_command_argv(
                self._handle(), ctypes.byref(reply), argc, argv, lens)
            if rc != 0:
                raise self._fail(rc)
        return self._raise_reply(_take(self._lib, reply.value, True))

    # --- the cache API: the same results on Redis and memcached pools -------
    #
    # Keys and values are bytes-like, str (UTF-8), int or float. ``ttl`` is
    # in seconds, 0 for none (longer than 30 days works on memcached too).
    # Failures raise ShardError with the SHARD_E* code and the pool's
    # message: InvalidArgumentError (also ValueError; code -1) for a key
    # memcached cannot take (empty, over 250 bytes, a space or a control
    # character) or a value too big, nothing sent; code SHARD_ESERVER
    # (-13) when the server answered an error; ShardTimeoutError,
    # ShardConnectionError (naming the server) when it did not answer.

    def _cache(self, fn, *args):
        """Calls cache function ``fn(pool, *args)`` under the lock."""
        with self._lock:
            rc = fn(self._handle(), *args)
            if rc != 0:
                raise self._fail(rc)

    def _cache_reply(self, fn, *args, unsigned=False):
        reply = ctypes.c_void_p()
        self._cache(fn, ctypes.byref(reply), *args)
        return _take(self._lib, reply.value, unsigned)

    def get(self, key):
        """The value of ``key`` as bytes, or None when it holds none."""
        data = encode(key)
        return self._cache_reply(self._lib.shard_get, data, len(data))

    def mget(self, keys):
        """The values of ``keys`` (an iterable), a list in their order:
        bytes, None for a miss, or a ReplyError naming the server for a
        key whose server failed (the other keys still have theirs). The
        keys are split per server and asked in parallel."""
        if isinstance(keys, (str, bytes, bytearray, memoryview)):
            raise TypeError("mget takes an iterable of keys, not one key")
        keys = list(keys)
        if not keys:
            return []
        n, argv, lens = _array(keys, "mget")
        return self._cache_reply(self._lib.shard_mget, n, argv, lens)

    def set(self, key, value, ttl=0):
        """Stores ``value`` under ``key``, for ``ttl`` seconds (0: no
        expiry)."""
        k, v = encode(key), encode(value)
        self._cache(self._lib.shard_set, k, len(k), v, len(v), _ttl(ttl))

    def mset(self, items, ttl=0):
        """Stores each (key, value) of ``items`` (a dict or an iterable of
        pairs), each on its server, all with ``ttl``. Returns a list in
        their order: True for a key stored, or a ReplyError naming the
        failed server (or quoting its error) for one that was not; keys
        are independent."""
        pairs = list(items.items() if isinstance(items, dict) else items)
        if not pairs:
            return []
        n, kv, kl = _array([k for k, _ in pairs], "mset")
        _, vv, vl = _array([v for _, v in pairs], "mset")
        result = self._cache_reply(self._lib.shard_mset, n, kv, kl, vv, vl,
                                   _ttl(ttl))
        return [r if isinstance(r, ReplyError) else True for r in result]

    def add(self, key, value, ttl=0):
        """Stores ``value`` only if ``key`` holds nothing: True when it
        did, False when the key existed (then nothing changed)."""
        k, v = encode(key), encode(value)
        stored = ctypes.c_int()
        self._cache(self._lib.shard_add, ctypes.byref(stored), k, len(k), v,
                    len(v), _ttl(ttl))
        return bool(stored.value)

    def delete(self, key):
        """Deletes ``key``; no error when it did not exist."""
        data = encode(key)
        self._cache(self._lib.shard_delete, data, len(data))

    def incr(self, key, delta=1):
        """Adds ``delta`` (0 to 2**63 - 1) to the decimal number in
        ``key``: the new value (an int, unsigned 64-bit, as memcached
        counts), or None when the key does not exist (none is made). A
        value that is not a number raises ShardError code SHARD_ESERVER."""
        data = encode(key)
        return self._cache_reply(self._lib.shard_incr, data, len(data),
                                 _delta(delta), unsigned=True)

    def decr(self, key, delta=1):
        """As incr(), subtracting; stops at 0."""
        data = encode(key)
        return self._cache_reply(self._lib.shard_decr, data, len(data),
                                 _delta(delta), unsigned=True)

    def touch(self, key, ttl):
        """Gives ``key`` a new expiry of ``ttl`` seconds (0: none): True
        when the key existed, False when not (nothing is made)."""
        data = encode(key)
        found = ctypes.c_int()
        self._cache(self._lib.shard_touch, ctypes.byref(found), data,
                    len(data), _ttl(ttl))
        return bool(found.value)

    @staticmethod
    def _raise_reply(value):
        if isinstance(value, ReplyError):
            raise value
        return value

    def _call(self, index, args):
        argc, argv, lens = _argv(args)
        reply = ctypes.c_void_p()
        with self._lock:
            pool = self._handle()
            if index is None:
                rc = self._lib.shard_command_argv(
                    pool, ctypes.byref(reply), argc, argv, lens)
            else:
                rc = self._lib.shard_command_server_argv(
                    pool, index, ctypes.byref(reply), argc, argv, lens)
            if rc != 0:
                raise self._fail(rc)
        return _take(self._lib, reply.value)

    def pipeline(self):
        """A Pipeline: commands queued, then sent together by execute()."""
        return Pipeline(self)

    # --- stats -------------------------------------------------------------

    def stats(self):
        """The pool's stats document (nutcracker's shape) as a dict."""
        return json.loads(self._document(self._lib.shard_pool_stats_json))

    def stats_prometheus(self):
        """The same figures in the Prometheus text format, as str."""
        return self._document(self._lib.shard_pool_stats_prometheus)

    def _document(self, fn):
        ptr = ctypes.c_void_p()
        length = ctypes.c_size_t()
        with self._lock:
            rc = fn(self._handle(), ctypes.byref(ptr), ctypes.byref(length))
            if rc != 0:
                raise self._fail(rc)
        try:
            return ctypes.string_at(ptr.value, length.value).decode("utf-8")
        finally:
            self._lib.shard_free(ptr.value)

    def __repr__(self):
        if self._pool is None:
            return "<libshard.Pool closed>"
        return "<libshard.Pool %r, %d servers>" % (self.name,
                                                   len(self.servers))


def _event(ev):
    return Event(EVENT_NAMES.get(ev.type, str(ev.type)),
                 _native.text(ev.pool),
                 None if ev.server == EVENT_POOL else ev.server,
                 _native.text(ev.identity), _native.text(ev.addr),
                 ev.status, _native.text(ev.reason), ev.delay_ms)


class Pipeline:
    """Commands sent together, their replies read in order.

    ``command()`` queues (and returns the pipeline, so calls chain);
    ``execute()`` appends them all to the pool, every server in parallel,
    and returns the list of replies. An element is the command's value, a
    ReplyError for an error reply, or a ShardError for a command that got
    no reply; ``execute(raise_on_error=True)`` raises the first of those
    instead, after every reply is in. Used as a context manager, the
    queue is dropped on leaving.
    """

    def __init__(self, pool):
        self._pool = pool
        self._queued = []

    def command(self, *args):
        self._queued.append(_argv(args))
        return self

    def __len__(self):
        return len(self._queued)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._queued = []
        return False

    def execute(self, raise_on_error=False):
        queued, self._queued = self._queued, []
        pool = self._pool
        with pool._lock:
            handle = pool._handle()
            results = [self._append(handle, cmd) for cmd in queued]
            for i, appended in enumerate(results):
                if appended is None:
                    results[i] = self._reply(handle)
        if raise_on_error:
            for value in results:
                if isinstance(value, (ReplyError, ShardError)):
                    raise value
        return results

    def _append(self, handle, cmd):
        """None when appended, else the ShardError of the failed append."""
        argc, argv, lens = cmd
        rc = self._pool._lib.shard_append_argv(handle, argc, argv, lens)
        return None if rc == 0 else self._pool._fail(rc)

    def _reply(self, handle):
        reply = ctypes.c_void_p()
        rc = self._pool._lib.shard_get_reply(handle, ctypes.byref(reply))
        if rc != 0:
            return self._pool._fail(rc)
        return _take(self._pool._lib, reply.value)

"""Loading libshard.so and declaring its functions for ctypes.

The library is looked for, in this order:

1. the path given to ``libshard.load()``;
2. the environment variable ``SHARD_LIB``;
3. the library this package was installed with (``meson install`` writes
   its path into ``_install.py``);
4. ``libshard.so.0`` through the dynamic loader (``LD_LIBRARY_PATH``, the
   ``ldconfig`` cache: ``/usr/local/lib/...`` after ``meson install``);
5. ``ctypes.util.find_library("shard")``.
"""

import ctypes
import ctypes.util
import os
import threading

SONAME = "libshard.so.0"
OPTIONS_VERSION = 2  # the shard_options layout below

_lock = threading.Lock()
_lib = None

c_pool = ctypes.c_void_p
c_reply = ctypes.c_void_p
c_size = ctypes.c_size_t
c_str = ctypes.c_char_p

LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, c_str, ctypes.c_void_p)


class Event(ctypes.Structure):
    """struct shard_event (include/shard/common.h)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("pool", c_str),
        ("server", c_size),
        ("identity", c_str),
        ("addr", c_str),
        ("status", ctypes.c_int),
        ("reason", c_str),
        ("delay_ms", ctypes.c_long),
    ]


EVENT_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(Event), ctypes.c_void_p)


class Options(ctypes.Structure):
    """struct shard_options, version 2 (include/shard/common.h)."""

    _fields_ = [
        ("version", ctypes.c_int),
        ("log_fn", LOG_FN),
        ("log_userdata", ctypes.c_void_p),
        ("log_level", ctypes.c_int),
        ("event_fn", EVENT_FN),
        ("event_userdata", ctypes.c_void_p),
        ("watch_config", ctypes.c_int),
        ("stats_listen", c_str),
    ]


_SIGNATURES = {
    "shard_version": (c_str, []),
    "shard_strerror": (c_str, [ctypes.c_int]),
    "shard_last_error": (c_str, []),
    "shard_options_init": (ctypes.c_int,
                           [ctypes.POINTER(Options), ctypes.c_int]),
    "shard_config_check": (ctypes.c_int, [c_str]),
    "shard_pool_open": (ctypes.c_int, [ctypes.POINTER(c_pool), c_str, c_str,
                                       ctypes.POINTER(Options)]),
    "shard_pool_open_string": (ctypes.c_int,
                               [ctypes.POINTER(c_pool), c_str, c_size, c_str,
                                ctypes.POINTER(Options)]),
    "shard_pool_reload": (ctypes.c_int, [c_pool, c_str]),
    "shard_pool_reload_string": (ctypes.c_int, [c_pool, c_str, c_size]),
    "shard_pool_free": (None, [c_pool]),
    "shard_pool_errmsg": (c_str, [c_pool]),
    "shard_pool_name": (c_str, [c_pool]),
    "shard_pool_locate": (ctypes.c_int, [c_pool, c_str, c_size]),
    "shard_pool_server_count": (c_size, [c_pool]),
    "shard_pool_server_name": (c_str, [c_pool, c_size]),
    "shard_pool_server_addr": (c_str, [c_pool, c_size]),
    "shard_command_argv": (ctypes.c_int,
                           [c_pool, ctypes.POINTER(c_reply), ctypes.c_int,
                            ctypes.POINTER(c_str), ctypes.POINTER(c_size)]),
    "shard_command_server_argv": (ctypes.c_int,
                                  [c_pool, c_size, ctypes.POINTER(c_reply),
                                   ctypes.c_int, ctypes.POINTER(c_str),
                                   ctypes.POINTER(c_size)]),
    "shard_mc_command_argv": (ctypes.c_int,
                              [c_pool, ctypes.POINTER(c_reply), ctypes.c_int,
                               ctypes.POINTER(c_str),
                               ctypes.POINTER(c_size)]),
    # The cache API (include/shard/cache.h); keys and values are passed
    # as c_char_p arrays with their lengths (binary safe).
    "shard_get": (ctypes.c_int, [c_pool, ctypes.POINTER(c_reply), c_str,
                                 c_size]),
    "shard_mget": (ctypes.c_int, [c_pool, ctypes.POINTER(c_reply), c_size,
                                  ctypes.POINTER(c_str),
                                  ctypes.POINTER(c_size)]),
    "shard_set": (ctypes.c_int, [c_pool, c_str, c_size, c_str, c_size,
                                 ctypes.c_uint]),
    "shard_mset": (ctypes.c_int, [c_pool, ctypes.POINTER(c_reply), c_size,
                                  ctypes.POINTER(c_str),
                                  ctypes.POINTER(c_size),
                                  ctypes.POINTER(c_str),
                                  ctypes.POINTER(c_size), ctypes.c_uint]),
    "shard_add": (ctypes.c_int, [c_pool, ctypes.POINTER(ctypes.c_int), c_str,
                                 c_size, c_str, c_size, ctypes.c_uint]),
    "shard_delete": (ctypes.c_int, [c_pool, c_str, c_size]),
    "shard_incr": (ctypes.c_int, [c_pool, ctypes.POINTER(c_reply), c_str,
                                  c_size, ctypes.c_uint64]),
    "shard_decr": (ctypes.c_int, [c_pool, ctypes.POINTER(c_reply), c_str,
                                  c_size, ctypes.c_uint64]),
    "shard_touch": (ctypes.c_int, [c_pool, ctypes.POINTER(ctypes.c_int),
                                   c_str, c_size, ctypes.c_uint]),
    "shard_append_argv": (ctypes.c_int,
                          [c_pool, ctypes.c_int, ctypes.POINTER(c_str),
                           ctypes.POINTER(c_size)]),
    "shard_get_reply": (ctypes.c_int, [c_pool, ctypes.POINTER(c_reply)]),
    "shard_reply_type": (ctypes.c_int, [c_reply]),
    # A pointer, not c_char_p: the bytes may hold NULs.
    "shard_reply_str": (ctypes.c_void_p, [c_reply, ctypes.POINTER(c_size)]),
    "shard_reply_integer": (ctypes.c_longlong, [c_reply]),
    "shard_reply_len": (c_size, [c_reply]),
    "shard_reply_at": (c_reply, [c_reply, c_size]),
    "shard_reply_free": (None, [c_reply]),
    "shard_pool_stats_json": (ctypes.c_int,
                              [c_pool, ctypes.POINTER(ctypes.c_void_p),
                               ctypes.POINTER(c_size)]),
    "shard_pool_stats_prometheus": (ctypes.c_int,
                                    [c_pool, ctypes.POINTER(ctypes.c_void_p),
                                     ctypes.POINTER(c_size)]),
    "shard_free": (None, [ctypes.c_void_p]),
}


def _declare(lib):
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def _installed_path():
    try:
        from . import _install
    except ImportError:
        return None
    path = getattr(_install, "LIBRARY", None)
    return path if path and os.path.exists(path) else None


def _candidates(path):
    if path:
        yield path
        return
    if os.environ.get("SHARD_LIB"):
        yield os.environ["SHARD_LIB"]
        return
    installed = _installed_path()
    if installed:
        yield installed
    yield SONAME
    found = ctypes.util.find_library("shard")
    if found:
        yield found


def load(path=None):
    """Loads libshard (the module doc says where it looks); returns it."""
    global _lib
    tried = []
    with _lock:
        for candidate in _candidates(path):
            try:
                lib = ctypes.CDLL(candidate)
            except OSError as e:
                tried.append("%s (%s)" % (candidate, e))
                continue
            _lib = _declare(lib)
            return _lib
    raise OSError("libshard not found; tried: %s. Install it (meson "
                  "install), set SHARD_LIB to its path, or call "
                  "libshard.load(PATH)" % "; ".join(tried))


def lib():
    """The loaded library, loading it on first use."""
    return _lib if _lib is not None else load()


def text(raw):
    """A C string from libshard as str (never None)."""
    return raw.decode("utf-8", "replace") if raw else ""

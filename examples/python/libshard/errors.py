"""The exceptions of libshard.

Two kinds of failure, as in the C API:

- ``ReplyError``: a server answered with an error (``-ERR ...``,
  ``WRONGTYPE ...``), or libshard refused the command (keys on several
  servers, wrong arity). It is a reply: ``Pool.command()`` raises it, and
  inside a list (a split MGET, a pipeline) it stands in place of the value
  while the other elements are still there.
- ``ShardError``: no reply could be had, a negative ``SHARD_E*`` code.
  Timeouts are also ``TimeoutError``, connection failures also
  ``ConnectionError``, config errors and refused arguments (a bad
  memcached key) also ``ValueError``, so code that
  catches the built-in classes catches them.

Both derive from ``Error``.
"""

# SHARD_E* codes, as in include/shard/common.h (append-only there).
OK = 0
EINVAL = -1
ENOMEM = -2
ECONFIG = -3
ENOPOOL = -4
EIO = -5
ETIMEDOUT = -6
ECONN = -7
ENOSERVER = -8
EPROTO = -9
ECLOSED = -10
EUNSUPPORTED = -11
ESTATE = -12
ESERVER = -13


class Error(Exception):
    """Base class of every exception libshard raises."""


class ReplyError(Error):
    """An error reply: from a server, or from libshard refusing a command.

    ``message`` is the whole text ("ERR unknown command ..."), ``prefix``
    its first word ("ERR", "WRONGTYPE", "NOSCRIPT"...).
    """

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    @property
    def prefix(self):
        return self.message.split(" ", 1)[0] if self.message else ""

    def __eq__(self, other):
        return type(other) is type(self) and other.message == self.message

    def __hash__(self):
        return hash(self.message)

    def __repr__(self):
        return "ReplyError(%r)" % self.message


class ShardError(Error):
    """No reply: a libshard call failed with a negative SHARD_E* code.

    ``code`` is that number, ``message`` says why (libshard's message for
    the pool, or the code's description).
    """

    def __init__(self, code, message):
        # One argument to the base classes: OSError reads two as
        # (errno, strerror).
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return self.message

    def __repr__(self):
        return "%s(%d, %r)" % (type(self).__name__, self.code, self.message)


class ShardTimeoutError(ShardError, TimeoutError):
    """A server did not answer within the pool's ``timeout``."""


class ShardConnectionError(ShardError, ConnectionError):
    """Connecting to a server failed, it closed, or every server of the
    pool is ejected."""


class InvalidArgumentError(ShardError, ValueError):
    """libshard refused an argument (code SHARD_EINVAL): on a memcached
    pool a key memcached cannot take (empty, over 250 bytes, a space or a
    control character) or a value over the item size. Nothing was sent."""


class ConfigError(ShardError, ValueError):
    """The config is invalid, or it has no such pool."""


_CLASSES = {
    EINVAL: InvalidArgumentError,
    ETIMEDOUT: ShardTimeoutError,
    ECONN: ShardConnectionError,
    ENOSERVER: ShardConnectionError,
    ECONFIG: ConfigError,
    ENOPOOL: ConfigError,
}


def from_code(code, message):
    """The exception for a SHARD_E* code."""
    return _CLASSES.get(code, ShardError)(code, message)

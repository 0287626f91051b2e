'use strict';
/*
 * libshard from Node.js: a twemproxy (nutcracker) pool without the proxy,
 * through koffi (a C FFI from npm with prebuilt binaries: no compiler).
 *
 *   const { Pool } = require('libshard');
 *   const pool = Pool.open('nutcracker.yml', 'alpha');
 *   await pool.command('SET', 'user:1', 'alice');     // 'OK'
 *   await pool.command('MGET', 'user:1', 'nope');     // [<Buffer 61 6c ...>, null]
 *   pool.locate('user:1');                            // { index, name, addr }
 *   await pool.pipeline().command('INCR', 'n').command('GET', 'n').exec();
 *   pool.stats().alpha.requests;
 *   // the cache API, the same on Redis and memcached pools:
 *   await pool.set('user:1', 'ada', 3600); await pool.get('user:1');
 *   await pool.mget(['user:1', 'nope']);              // [<Buffer 61 64 61>, null]
 *   // a memcached pool's commands by name:
 *   await mc.mcCommand('set', 'k', 0, 0, 'v');        // 'STORED'
 *   await pool.close();
 *
 * A call that can block (a command, a pipeline) runs on one of koffi's
 * worker threads and returns a Promise; the pool's calls take turns, one
 * at a time, as libshard requires. Calls that cannot block (locate,
 * stats) are synchronous. The library is libshard.so.0 from the dynamic
 * loader's path (after `meson install`), or SHARD_LIB, or load(path).
 */
let koffi;
try {
  koffi = require('koffi');
} catch (e) {
  e.message += ' (libshard needs koffi from npm: run `npm ci` in ' +
    `${__dirname}, or install this package with npm)`;
  throw e;
}

const SONAME = 'libshard.so.0';
const OPTIONS_VERSION = 2; // the shard_options layout below

// Reply types, as in include/shard/reply.h.
const REPLY_STRING = 1;
const REPLY_ARRAY = 2;
const REPLY_INTEGER = 3;
const REPLY_NIL = 4;
const REPLY_STATUS = 5;
const REPLY_ERROR = 6;

// SHARD_E* codes, as in include/shard/common.h.
const CODES = {
  '-1': 'SHARD_EINVAL',
  '-2': 'SHARD_ENOMEM',
  '-3': 'SHARD_ECONFIG',
  '-4': 'SHARD_ENOPOOL',
  '-5': 'SHARD_EIO',
  '-6': 'SHARD_ETIMEDOUT',
  '-7': 'SHARD_ECONN',
  '-8': 'SHARD_ENOSERVER',
  '-9': 'SHARD_EPROTO',
  '-10': 'SHARD_ECLOSED',
  '-11': 'SHARD_EUNSUPPORTED',
  '-12': 'SHARD_ESTATE',
  '-13': 'SHARD_ESERVER',
};
const ESTATE = -12;

const EVENT_NAMES = [
  null, 'connected', 'connect_failed', 'disconnected', 'ejected',
  'returned', 'probe_ok', 'probe_failed', 'reloaded', 'switched',
];
const EVENT_POOL = 0xffffffffffffffffn; // shard_event.server of a pool event

// --- errors -----------------------------------------------------------------

/** Base class of every error libshard gives. */
class LibshardError extends Error {}

/**
 * An error reply, from a server or from libshard refusing a command. A
 * single command rejects with it; in an array (a split MGET, a pipeline)
 * it stands in place of its value.
 */
class ReplyError extends LibshardError {
  constructor(message) {
    super(message);
    this.name = 'ReplyError';
  }

  /** The first word: "ERR", "WRONGTYPE", ... */
  get prefix() {
    return this.message.split(' ', 1)[0];
  }
}

/**
 * No reply could be had: a negative SHARD_E* code. `errno` is the number,
 * `code` its name ('SHARD_ETIMEDOUT').
 */
class ShardError extends LibshardError {
  constructor(errno, message) {
    super(message);
    this.name = 'ShardError';
    this.errno = errno;
    this.code = CODES[errno] || 'SHARD_E' + errno;
  }
}

/** A server did not answer within the pool's `timeout`. */
class ShardTimeoutError extends ShardError {
  constructor(errno, message) {
    super(errno, message);
    this.name = 'ShardTimeoutError';
  }
}

/** Connecting failed, the server closed, or every server is ejected. */
class ShardConnectionError extends ShardError {
  constructor(errno, message) {
    super(errno, message);
    this.name = 'ShardConnectionError';
  }
}

/** The config is invalid, or it has no such pool. */
class ConfigError extends ShardError {
  constructor(errno, message) {
    super(errno, message);
    this.name = 'ConfigError';
  }
}

function fromCode(errno, message) {
  switch (errno) {
    case -6: return new ShardTimeoutError(errno, message);
    case -7: case -8: return new ShardConnectionError(errno, message);
    case -3: case -4: return new ConfigError(errno, message);
    default: return new ShardError(errno, message);
  }
}

// --- the library --------------------------------------------------------------

let native = null;

function declare(lib) {
  const LogFn = koffi.proto('void shard_log_fn(int level, const char *message, void *userdata)');
  const Event = koffi.struct('shard_event', {
    type: 'int',
    pool: 'const char *',
    server: 'size_t',
    identity: 'const char *',
    addr: 'const char *',
    status: 'int',
    reason: 'const char *',
    delay_ms: 'long',
  });
  const EventFn = koffi.proto('void shard_event_fn(const shard_event *event, void *userdata)');
  const Options = koffi.struct('shard_options', {
    version: 'int',
    log_fn: koffi.pointer(LogFn),
    log_userdata: 'void *',
    log_level: 'int',
    event_fn: koffi.pointer(EventFn),
    event_userdata: 'void *',
    watch_config: 'int',
    stats_listen: 'const char *',
  });
  const f = (proto) => lib.func(proto);
  return {
    lib, Options, Event, LogFn, EventFn,
    version: f('const char *shard_version(void)'),
    strerror: f('const char *shard_strerror(int code)'),
    lastError: f('const char *shard_last_error(void)'),
    optionsInit: f('int shard_options_init(_Out_ shard_options *opts, int version)'),
    configCheck: f('int shard_config_check(const char *path)'),
    open: f('int shard_pool_open(_Out_ void **out, const char *path, const char *name, const shard_options *opts)'),
    openString: f('int shard_pool_open_string(_Out_ void **out, const uint8_t *yaml, size_t len, const char *name, const shard_options *opts)'),
    reload: f('int shard_pool_reload(void *pool, const char *path)'),
    reloadString: f('int shard_pool_reload_string(void *pool, const uint8_t *yaml, size_t len)'),
    poolFree: f('void shard_pool_free(void *pool)'),
    errmsg: f('const char *shard_pool_errmsg(void *pool)'),
    poolName: f('const char *shard_pool_name(void *pool)'),
    locate: f('int shard_pool_locate(void *pool, const uint8_t *key, size_t len)'),
    serverCount: f('size_t shard_pool_server_count(void *pool)'),
    serverName: f('const char *shard_pool_server_name(void *pool, size_t index)'),
    serverAddr: f('const char *shard_pool_server_addr(void *pool, size_t index)'),
    command: f('int shard_command_argv(void *pool, _Out_ void **out, int argc, void **argv, size_t *argvlen)'),
    commandServer: f('int shard_command_server_argv(void *pool, size_t index, _Out_ void **out, int argc, void **argv, size_t *argvlen)'),
    mcCommand: f('int shard_mc_command_argv(void *pool, _Out_ void **out, int argc, void **argv, size_t *argvlen)'),
    // The cache API (include/shard/cache.h).
    get: f('int shard_get(void *pool, _Out_ void **out, const uint8_t *key, size_t keylen)'),
    mget: f('int shard_mget(void *pool, _Out_ void **out, size_t nkeys, void **keys, size_t *keylens)'),
    set: f('int shard_set(void *pool, const uint8_t *key, size_t keylen, const uint8_t *value, size_t valuelen, unsigned int ttl)'),
    mset: f('int shard_mset(void *pool, _Out_ void **out, size_t n, void **keys, size_t *keylens, void **values, size_t *valuelens, unsigned int ttl)'),
    add: f('int shard_add(void *pool, _Out_ int *stored, const uint8_t *key, size_t keylen, const uint8_t *value, size_t valuelen, unsigned int ttl)'),
    del: f('int shard_delete(void *pool, const uint8_t *key, size_t keylen)'),
    incr: f('int shard_incr(void *pool, _Out_ void **out, const uint8_t *key, size_t keylen, uint64_t delta)'),
    decr: f('int shard_decr(void *pool, _Out_ void **out, const uint8_t *key, size_t keylen, uint64_t delta)'),
    touch: f('int shard_touch(void *pool, _Out_ int *found, const uint8_t *key, size_t keylen, unsigned int ttl)'),
    append: f('int shard_append_argv(void *pool, int argc, void **argv, size_t *argvlen)'),
    getReply: f('int shard_get_reply(void *pool, _Out_ void **out)'),
    replyType: f('int shard_reply_type(void *r)'),
    replyStr: f('void *shard_reply_str(void *r, _Out_ size_t *len)'),
    replyInteger: f('int64_t shard_reply_integer(void *r)'),
    replyLen: f('size_t shard_reply_len(void *r)'),
    replyAt: f('void *shard_reply_at(void *r, size_t i)'),
    replyFree: f('void shard_reply_free(void *r)'),
    statsJson: f('int shard_pool_stats_json(void *pool, _Out_ void **json, _Out_ size_t *len)'),
    statsPrometheus: f('int shard_pool_stats_prometheus(void *pool, _Out_ void **text, _Out_ size_t *len)'),
    free: f('void shard_free(void *p)'),
  };
}

/**
 * Loads libshard: `path`, else $SHARD_LIB, else libshard.so.0 from the
 * dynamic loader's path. Called by the first Pool.open() when not before.
 */
function load(path) {
  const candidates = path ? [path]
    : process.env.SHARD_LIB ? [process.env.SHARD_LIB] : [SONAME];
  const tried = [];
  for (const candidate of candidates) {
    try {
      native = declare(koffi.load(candidate));
      return native;
    } catch (e) {
      tried.push(`${candidate} (${e.message})`);
    }
  }
  throw new Error(`libshard not found; tried: ${tried.join('; ')}. Install ` +
    'it (meson install), set SHARD_LIB to its path, or call load(path)');
}

function lib() {
  return native || load();
}

/** The version of the loaded libshard.so, "MAJOR.MINOR.PATCH". */
function libraryVersion() {
  return lib().version();
}

/** libshard's description of a SHARD_E* code. */
function strerror(code) {
  return lib().strerror(code);
}

/** Checks a config as `nutcracker -t` does; throws ConfigError if not. */
function checkConfig(path) {
  const n = lib();
  const rc = n.configCheck(path);
  if (rc !== 0) throw fromCode(rc, n.lastError());
}

// --- arguments and replies -----------------------------------------------------

function encode(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'number' && Number.isFinite(value)) return Buffer.from(String(value));
  if (typeof value === 'bigint') return Buffer.from(value.toString());
  throw new TypeError(`command arguments are Buffer, string, number or bigint, not ${value === null ? 'null' : typeof value}`);
}

// koffi passes an empty Buffer as NULL, which libshard refuses as an
// argument: an empty argument points at a byte of its own, length 0.
const EMPTY = Buffer.alloc(1);

function argv(args) {
  if (args.length === 0) throw new TypeError('a command needs at least its name');
  const data = args.map(encode);
  return {
    argc: data.length,
    argv: data.map((b) => (b.length ? b : EMPTY)),
    lens: data.map((b) => b.length),
  };
}

// A key or value as a Buffer koffi passes as a pointer (never NULL).
function bytes(v) {
  const b = encode(v);
  return { ptr: b.length ? b : EMPTY, len: b.length };
}

function ttlOf(ttl) {
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0xffffffff) {
    throw new RangeError(`ttl must be a whole number of seconds from 0 (no expiry) to 2^32 - 1, not ${ttl}`);
  }
  return ttl;
}

function deltaOf(delta) {
  const d = typeof delta === 'bigint' ? delta : Number.isInteger(delta) ? BigInt(delta) : null;
  if (d === null || d < 0n || d >= 2n ** 63n) {
    throw new RangeError(`delta must be a whole number from 0 to 2^63 - 1, not ${delta}`);
  }
  return d;
}

/** memcached's unsigned 64-bit integers: a number, a BigInt beyond 2^53. */
function unsignedOf(v) {
  const big = BigInt.asUintN(64, BigInt(v));
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function value(n, reply, unsigned = false) {
  switch (n.replyType(reply)) {
    case REPLY_NIL: return null;
    case REPLY_INTEGER: {
      const v = n.replyInteger(reply);
      return unsigned ? unsignedOf(v) : v;
    }
    case REPLY_ARRAY: {
      const out = [];
      const count = Number(n.replyLen(reply));
      for (let i = 0; i < count; i++) out.push(value(n, n.replyAt(reply, i), unsigned));
      return out;
    }
    default: break;
  }
  const len = [0];
  const ptr = n.replyStr(reply, len);
  const data = ptr ? Buffer.from(new Uint8Array(koffi.view(ptr, Number(len[0])))) : Buffer.alloc(0);
  switch (n.replyType(reply)) {
    case REPLY_STRING: return data;
    case REPLY_STATUS: return data.toString('utf8');
    case REPLY_ERROR: return new ReplyError(data.toString('utf8'));
    default: return new ShardError(-9, `a reply of unknown type ${n.replyType(reply)}`);
  }
}

/** Converts and frees a reply of a blocking call. */
function take(n, reply, unsigned = false) {
  try {
    return value(n, reply, unsigned);
  } finally {
    n.replyFree(reply);
  }
}

function callAsync(fn, ...args) {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err, rc) => (err ? reject(err) : resolve(rc)));
  });
}

// --- Pool ----------------------------------------------------------------------

class Pool {
  /**
   * Opens pool `name` of the config file `path` (name may be left out
   * when the file has one pool). Options: statsListen ('host:port': serve
   * the stats document there, as nutcracker's stats port), watchConfig
   * (reload the file when it changes), onEvent
   * (function(event) for connects, ejections and returns; it runs inside
   * the pool's calls and must not call the pool).
   */
  static open(path, name, options) {
    return new Pool({ path, name, options: options || {} });
  }

  /** As open(), with the YAML text of a config. */
  static fromYaml(text, name, options) {
    return new Pool({ yaml: encode(text), name, options: options || {} });
  }

  constructor({ path, yaml, name, options }) {
    const n = lib();
    this._n = n;
    this._pool = null;
    this._tail = Promise.resolve(); // the last call queued on the pool
    this._busy = 0; // calls queued or running
    const opts = this._options(options);
    const out = [null];
    const rc = yaml
      ? n.openString(out, yaml, yaml.length, name == null ? null : String(name), opts)
      : n.open(out, path, name == null ? null : String(name), opts);
    if (rc !== 0) {
      this._unregister();
      throw fromCode(rc, n.lastError());
    }
    this._pool = out[0];
    this.name = n.poolName(this._pool);
    this._readServers();
  }

  /** The servers in twemproxy's order: { index, name, addr }. */
  _readServers() {
    const servers = [];
    const count = Number(this._n.serverCount(this._pool));
    for (let i = 0; i < count; i++) servers.push(this._server(i));
    this.servers = Object.freeze(servers);
  }

  /**
   * Takes the pool's pool of the file `path` live (shard_pool_reload):
   * validated whole first; on failure nothing changed and the Promise
   * rejects with ConfigError or ShardError. Queued behind the pool's
   * commands; `servers` is read again.
   */
  reload(path) {
    return this._queue(async (pool) => {
      const rc = this._n.reload(pool, String(path));
      if (rc !== 0) throw this._fail(rc, pool);
      this._readServers();
    });
  }

  /** As reload(), with the text of a config. */
  reloadYaml(text) {
    const data = encode(text);
    return this._queue(async (pool) => {
      const rc = this._n.reloadString(pool, data, data.length);
      if (rc !== 0) throw this._fail(rc, pool);
      this._readServers();
    });
  }

  _options(options) {
    const n = this._n;
    const opts = {};
    const rc = n.optionsInit(opts, OPTIONS_VERSION);
    if (rc !== 0) throw fromCode(rc, n.lastError());
    this._callbacks = [];
    if (options.statsListen != null) opts.stats_listen = String(options.statsListen);
    opts.watch_config = options.watchConfig ? 1 : 0;
    if (typeof options.onEvent === 'function') {
      const onEvent = options.onEvent;
      const cb = koffi.register((ptr) => {
        const ev = koffi.decode(ptr, n.Event);
        onEvent({
          type: EVENT_NAMES[ev.type] || String(ev.type),
          pool: ev.pool,
          server: BigInt(ev.server) === EVENT_POOL ? null : Number(ev.server),
          identity: ev.identity,
          addr: ev.addr, status: ev.status, reason: ev.reason,
          delayMs: Number(ev.delay_ms),
        });
      }, koffi.pointer(n.EventFn));
      this._callbacks.push(cb);
      opts.event_fn = cb;
    }
    return opts;
  }

  _unregister() {
    for (const cb of this._callbacks) koffi.unregister(cb);
    this._callbacks = [];
  }

  _server(index) {
    return Object.freeze({
      index,
      name: this._n.serverName(this._pool, index),
      addr: this._n.serverAddr(this._pool, index),
    });
  }

  /** True once close() was called: no call is accepted any more. */
  get closed() {
    return this._pool === null;
  }

  _handle() {
    if (this._pool === null) throw new ShardError(ESTATE, 'the pool is closed');
    return this._pool;
  }

  _idleHandle(what) {
    const pool = this._handle();
    if (this._busy > 0) {
      throw new ShardError(ESTATE, `${what} while a command of the pool is ` +
        'running: a pool is used by one thread at a time; await the ' +
        'pending commands first');
    }
    return pool;
  }

  _fail(rc, pool = this._pool) {
    return fromCode(rc, (pool && this._n.errmsg(pool)) || this._n.strerror(rc));
  }

  /**
   * Queues `task` (an async function of the pool handle) behind the
   * others; a rejected Promise when the pool is closed.
   */
  _queue(task) {
    let pool;
    try {
      pool = this._handle();
    } catch (e) {
      return Promise.reject(e);
    }
    this._busy++;
    // The count drops before the caller's await returns, so that the
    // caller may locate() right after.
    const run = this._tail.then(async () => {
      try {
        return await task(pool);
      } finally {
        this._busy--;
      }
    });
    this._tail = run.then(() => {}, () => {});
    return run;
  }

  /** The server that `key` goes to, as twemproxy would choose it. */
  locate(key) {
    const pool = this._idleHandle('locate');
    const data = encode(key);
    const index = this._n.locate(pool, data, data.length);
    if (index < 0) throw this._fail(index);
    return this.servers[index];
  }

  /**
   * Sends one command; resolves to its reply: a Buffer for a string, a
   * string for a status ('OK'), a number (a BigInt beyond 2^53) for an
   * integer, null for nil, an Array (where an error element is a
   * ReplyError). Rejects with ReplyError for an error reply, ShardError
   * (ShardTimeoutError, ShardConnectionError) when no reply came.
   */
  command(...args) {
    return this._call(null, args);
  }

  /** As command(), to server `index` only, with no key check (INFO...). */
  commandServer(index, ...args) {
    return this._call(index, args);
  }

  _call(index, args) {
    let cmd;
    try {
      cmd = argv(args);
    } catch (e) {
      return Promise.reject(e);
    }
    return this._queue(async (pool) => {
      const out = [null];
      const rc = index === null
        ? await callAsync(this._n.command, pool, out, cmd.argc, cmd.argv, cmd.lens)
        : await callAsync(this._n.commandServer, pool, index, out, cmd.argc, cmd.argv, cmd.lens);
      if (rc !== 0) throw this._fail(rc, pool);
      const result = take(this._n, out[0]);
      if (result instanceof ReplyError) throw result;
      return result;
    });
  }

  /**
   * Sends one memcached command (a `redis: false` pool): the words of
   * memcached's ASCII protocol without the byte count, the value in its
   * place, names in lower case (shard_mc_command_argv):
   *
   *   await pool.mcCommand('set', 'k', 0, 0, 'v');  // 'STORED'
   *   await pool.mcCommand('get', 'k', 'x');        // [<Buffer 76>, null]
   *   await pool.mcCommand('gets', 'k');            // [<Buffer 76>, 0, cas]
   *   await pool.mcCommand('incr', 'n', 1);         // a number, or 'NOT_FOUND'
   *
   * A status is a string, a value a Buffer (null: a miss), an integer a
   * number (unsigned 64-bit: a BigInt beyond 2^53). An error reply (the
   * server's, or libshard refusing a command or a key) rejects with
   * ReplyError; in a multi-key get a ReplyError naming a failed server
   * stands in place of each of its keys. ShardError when no reply came
   * (SHARD_EUNSUPPORTED on a Redis pool).
   */
  mcCommand(...args) {
    let cmd;
    try {
      cmd = argv(args);
    } catch (e) {
      return Promise.reject(e);
    }
    return this._queue(async (pool) => {
      const out = [null];
      const rc = await callAsync(this._n.mcCommand, pool, out, cmd.argc, cmd.argv, cmd.lens);
      if (rc !== 0) throw this._fail(rc, pool);
      const result = take(this._n, out[0], true);
      if (result instanceof ReplyError) throw result;
      return result;
    });
  }

  // --- the cache API: the same results on Redis and memcached pools ---------
  //
  // Keys and values are Buffer, Uint8Array, string, number or bigint; ttl
  // in seconds, 0 for none. Failures reject with ShardError carrying the
  // SHARD_E* code and the pool's message: SHARD_EINVAL for a key memcached
  // cannot take (empty, over 250 bytes, a space or a control character)
  // or a value too big (nothing sent), SHARD_ESERVER when the server
  // answered an error, ShardTimeoutError or ShardConnectionError (naming
  // the server) when it did not answer.

  /** Runs cache function `fn(pool, ...args)` queued; resolves to `done()`. */
  _cache(prepare, fn, done) {
    let args;
    try {
      args = prepare();
    } catch (e) {
      return Promise.reject(e);
    }
    return this._queue(async (pool) => {
      const rc = await callAsync(fn, pool, ...args);
      if (rc !== 0) throw this._fail(rc, pool);
      return done(args);
    });
  }

  /** The reply a cache call put in its first argument, converted. */
  _cacheReply(prepare, fn, unsigned = false) {
    return this._cache(() => [[null], ...prepare()], fn,
      (args) => take(this._n, args[0][0], unsigned));
  }

  /** The value of `key`: a Buffer, or null when it holds none. */
  get(key) {
    return this._cacheReply(() => { const k = bytes(key); return [k.ptr, k.len]; }, this._n.get);
  }

  /**
   * The values of `keys` (an array), in their order: Buffer, null for a
   * miss, or a ReplyError naming the server for a key whose server failed
   * (the other keys still have theirs). Split per server, in parallel.
   */
  mget(keys) {
    if (typeof keys === 'string' || keys instanceof Uint8Array || keys == null ||
        typeof keys[Symbol.iterator] !== 'function') {
      return Promise.reject(new TypeError('mget takes an array of keys'));
    }
    if (Array.isArray(keys) && keys.length === 0) return Promise.resolve([]);
    return this._cacheReply(() => {
      const k = [...keys].map(bytes);
      return [k.length, k.map((b) => b.ptr), k.map((b) => b.len)];
    }, this._n.mget);
  }

  /** Stores `value` under `key` for `ttl` seconds (0: no expiry). */
  set(key, value, ttl = 0) {
    return this._cache(() => {
      const k = bytes(key);
      const v = bytes(value);
      return [k.ptr, k.len, v.ptr, v.len, ttlOf(ttl)];
    }, this._n.set, () => undefined);
  }

  /**
   * Stores each [key, value] of `entries` (an object, a Map or an array
   * of pairs), each on its server, all with `ttl`. Resolves to an array in
   * their order: true for a key stored, or a ReplyError naming the failed
   * server (or quoting its error); keys are independent.
   */
  mset(entries, ttl = 0) {
    let pairs;
    try {
      pairs = entries instanceof Map || Array.isArray(entries)
        ? [...entries] : Object.entries(entries);
    } catch (e) {
      return Promise.reject(e);
    }
    if (pairs.length === 0) return Promise.resolve([]);
    return this._cacheReply(() => {
      const k = pairs.map(([key]) => bytes(key));
      const v = pairs.map(([, val]) => bytes(val));
      return [pairs.length, k.map((b) => b.ptr), k.map((b) => b.len),
        v.map((b) => b.ptr), v.map((b) => b.len), ttlOf(ttl)];
    }, this._n.mset).then((r) => r.map((e) => (e instanceof ReplyError ? e : true)));
  }

  /** Stores only if `key` holds nothing: true when stored, false when it existed. */
  add(key, value, ttl = 0) {
    return this._cache(() => {
      const k = bytes(key);
      const v = bytes(value);
      return [[0], k.ptr, k.len, v.ptr, v.len, ttlOf(ttl)];
    }, this._n.add, (args) => args[0][0] !== 0);
  }

  /** Deletes `key`; resolves whether or not it existed. */
  delete(key) {
    return this._cache(() => { const k = bytes(key); return [k.ptr, k.len]; },
      this._n.del, () => undefined);
  }

  /**
   * Adds `delta` (0 to 2^63 - 1, number or bigint) to the decimal number
   * in `key`: the new value (unsigned 64-bit: a BigInt beyond 2^53), or
   * null when the key does not exist (none is made). A value that is not
   * a number rejects with ShardError code SHARD_ESERVER.
   */
  incr(key, delta = 1) {
    return this._cacheReply(() => { const k = bytes(key); return [k.ptr, k.len, deltaOf(delta)]; },
      this._n.incr, true);
  }

  /** As incr(), subtracting; stops at 0. */
  decr(key, delta = 1) {
    return this._cacheReply(() => { const k = bytes(key); return [k.ptr, k.len, deltaOf(delta)]; },
      this._n.decr, true);
  }

  /** Gives `key` a new expiry (0: none): true when it existed, false when not. */
  touch(key, ttl) {
    return this._cache(() => { const k = bytes(key); return [[0], k.ptr, k.len, ttlOf(ttl)]; },
      this._n.touch, (args) => args[0][0] !== 0);
  }

  /** A Pipeline: commands queued, then sent together by exec(). */
  pipeline() {
    return new Pipeline(this);
  }

  /** The stats document (nutcracker's shape) as an object. */
  stats() {
    return JSON.parse(this._document(this._n.statsJson));
  }

  /** The same figures in the Prometheus text format. */
  statsPrometheus() {
    return this._document(this._n.statsPrometheus);
  }

  // libshard makes the document on any thread (its stats port does), so
  // this need not wait for the pool's commands.
  _document(fn) {
    const ptr = [null];
    const len = [0];
    const rc = fn(this._handle(), ptr, len);
    if (rc !== 0) throw this._fail(rc);
    try {
      return Buffer.from(new Uint8Array(koffi.view(ptr[0], Number(len[0])))).toString('utf8');
    } finally {
      this._n.free(ptr[0]);
    }
  }

  /** Frees the pool once its queued calls are done; later calls fail. */
  close() {
    if (this._pool === null) return this._tail;
    const pool = this._pool;
    this._pool = null;
    this._tail = this._tail.then(() => {
      this._n.poolFree(pool);
      this._unregister();
    });
    return this._tail;
  }
}

/**
 * Commands sent together. command() queues (and returns the pipeline);
 * exec() appends them all, every server in parallel, and resolves to the
 * replies in order: a value, a ReplyError for an error reply, a
 * ShardError for a command that got no reply. exec({ raiseOnError: true })
 * rejects with the first of those instead, after every reply is in.
 */
class Pipeline {
  constructor(pool) {
    this._pool = pool;
    this._queued = [];
  }

  command(...args) {
    this._queued.push(argv(args));
    return this;
  }

  get length() {
    return this._queued.length;
  }

  exec({ raiseOnError = false } = {}) {
    const queued = this._queued;
    this._queued = [];
    const p = this._pool;
    const n = p._n;
    return p._queue(async (pool) => {
      const results = queued.map((cmd) => {
        const rc = n.append(pool, cmd.argc, cmd.argv, cmd.lens);
        return rc === 0 ? undefined : p._fail(rc, pool);
      });
      for (let i = 0; i < results.length; i++) {
        if (results[i] !== undefined) continue;
        const out = [null];
        const rc = await callAsync(n.getReply, pool, out);
        results[i] = rc === 0 ? take(n, out[0]) : p._fail(rc, pool);
      }
      if (raiseOnError) {
        const failed = results.find((r) => r instanceof LibshardError);
        if (failed) throw failed;
      }
      return results;
    });
  }
}

module.exports = {
  Pool,
  Pipeline,
  LibshardError,
  ReplyError,
  ShardError,
  ShardTimeoutError,
  ShardConnectionError,
  ConfigError,
  load,
  libraryVersion,
  strerror,
  checkConfig,
  version: require('./package.json').version,
};

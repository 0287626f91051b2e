'use strict';
// The libshard Node package (examples/node) against real redis-servers.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const shard = require('../../examples/node');
const { freePort, rawCall, startRedis, stop, stopAll, poolYaml, sleep } = require('./servers');

let servers;
let config;
let pool;

before(async () => {
  servers = [await startRedis(), await startRedis(), await startRedis()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shard-node-conf-'));
  config = path.join(dir, 'nutcracker.yml');
  fs.writeFileSync(config, poolYaml('alpha', servers, { hash_tag: '"{}"', timeout: 2000 }));
  pool = shard.Pool.open(config, 'alpha');
});

after(async () => {
  await pool.close();
  stopAll();
});

function keysOnEveryServer(p, prefix, perServer = 2) {
  const found = new Map(p.servers.map((s) => [s.index, []]));
  for (let n = 0; [...found.values()].some((v) => v.length < perServer); n++) {
    const key = `${n}:${prefix}`;
    const list = found.get(p.locate(key).index);
    if (list.length < perServer) list.push(key);
  }
  return [...found.values()].flat().sort();
}

test('servers are the config\'s, in twemproxy order', () => {
  assert.equal(pool.name, 'alpha');
  assert.deepEqual(pool.servers.map((s) => s.index), [0, 1, 2]);
  assert.deepEqual(pool.servers.map((s) => s.addr).sort(), servers.map((s) => s.addr).sort());
  const names = pool.servers.map((s) => s.name);
  assert.deepEqual(names, [...names].sort());
});

test('values come back as JavaScript types', async () => {
  assert.equal(await pool.command('SET', 't:str', 'v'), 'OK');
  assert.deepEqual(await pool.command('GET', 't:str'), Buffer.from('v'));
  assert.equal(await pool.command('GET', 't:never-set'), null);
  await pool.command('DEL', 't:n');
  assert.equal(await pool.command('INCR', 't:n'), 1);
  assert.equal(await pool.command('INCRBY', 't:big', 2n ** 62n), 2n ** 62n);
  await pool.command('DEL', '{t}:l');
  assert.equal(await pool.command('RPUSH', '{t}:l', 'a', 'b'), 2);
  assert.deepEqual(await pool.command('LRANGE', '{t}:l', 0, -1), [Buffer.from('a'), Buffer.from('b')]);
  assert.deepEqual(await pool.command('LRANGE', '{t}:none', 0, -1), []);
});

test('binary values and every argument type round-trip', async () => {
  const big = Buffer.alloc(1 << 20, 0xab);
  const values = [Buffer.alloc(0), Buffer.from([0]), Buffer.from('a\0b\0'), big,
    new Uint8Array([1, 2, 3])];
  for (const [i, v] of values.entries()) {
    const key = Buffer.from(`bin\0key:${i}`);
    assert.equal(await pool.command('SET', key, v), 'OK');
    assert.deepEqual(await pool.command('GET', key), Buffer.from(v));
  }
  await pool.command('SET', 't:utf8', 'été');
  assert.equal((await pool.command('GET', 't:utf8')).toString(), 'été');
  await pool.command('SET', 't:num', 1.5);
  assert.equal((await pool.command('GET', 't:num')).toString(), '1.5');
  await assert.rejects(pool.command('SET', 't:bad', null), TypeError);
  await assert.rejects(pool.command('SET', 't:bad', {}), TypeError);
  await assert.rejects(pool.command(), TypeError);
});

test('MGET is split across servers and keeps the request order', async () => {
  const keys = keysOnEveryServer(pool, 'mget');
  for (const k of keys) await pool.command('SET', k, `v-${k}`);
  const request = [...keys.slice(0, 3), 'missing:mget', ...keys.slice(3)];
  const got = await pool.command('MGET', ...request);
  assert.deepEqual(got, request.map((k) => (k.startsWith('missing') ? null : Buffer.from(`v-${k}`))));
  assert.equal(await pool.command('DEL', ...keys, 'missing:del'), keys.length);
});

test('an error reply rejects one command and is an element of an array', async () => {
  await pool.command('SET', 'err:text', 'abc');
  await assert.rejects(pool.command('INCR', 'err:text'), (e) => {
    assert.ok(e instanceof shard.ReplyError);
    assert.ok(e instanceof shard.LibshardError);
    assert.ok(!(e instanceof shard.ShardError));
    assert.equal(e.prefix, 'ERR');
    return true;
  });
  const got = await pool.command('EVAL', "return {1, redis.error_reply('MYERR boom'), 'x'}", 1, 'err:k');
  assert.equal(got[0], 1);
  assert.ok(got[1] instanceof shard.ReplyError);
  assert.equal(got[1].message, 'MYERR boom');
  assert.deepEqual(got[2], Buffer.from('x'));
  assert.equal(await pool.command('SET', 'err:after', 'ok'), 'OK');
});

test('locate names the server that holds the key; hash tags group keys', async () => {
  for (const key of keysOnEveryServer(pool, 'where', 3)) {
    await pool.command('SET', key, '1');
    const where = pool.locate(key);
    const holders = [];
    for (const s of servers) if (await rawCall(s.port, 'EXISTS', key) === ':1') holders.push(s.addr);
    assert.deepEqual(holders, [where.addr]);
  }
  const tagged = ['a', 'b', 'cart'].map((s) => pool.locate(`{user:7}:${s}`).index);
  assert.equal(new Set(tagged).size, 1);
  assert.equal(tagged[0], pool.locate('user:7').index);
});

test('commandServer reaches one server', async () => {
  for (const s of pool.servers) {
    assert.equal(await pool.commandServer(s.index, 'PING'), 'PONG');
    assert.equal(typeof await pool.commandServer(s.index, 'DBSIZE'), 'number');
  }
});

test('pipelines return replies in order with errors inside', async () => {
  await pool.command('DEL', 'p:n');
  await pool.command('SET', 'p:text', 'abc');
  const p = pool.pipeline().command('INCR', 'p:n').command('INCR', 'p:text');
  p.command('GET', 'p:n');
  assert.equal(p.length, 3);
  const got = await p.exec();
  assert.equal(got[0], 1);
  assert.ok(got[1] instanceof shard.ReplyError);
  assert.deepEqual(got[2], Buffer.from('1'));
  await assert.rejects(pool.pipeline().command('INCR', 'p:text').exec({ raiseOnError: true }),
    shard.ReplyError);
  const many = pool.pipeline();
  for (let i = 0; i < 300; i++) many.command('SET', `many:${i}`, i);
  assert.deepEqual(await many.exec(), Array(300).fill('OK'));
});

test('concurrent calls take turns on the pool; locate waits for none', async () => {
  await pool.command('DEL', 'conc:n');
  const all = await Promise.all(Array.from({ length: 100 }, () => pool.command('INCR', 'conc:n')));
  assert.deepEqual(all, Array.from({ length: 100 }, (_, i) => i + 1));
  const pending = pool.command('GET', 'conc:n');
  assert.throws(() => pool.locate('k'), (e) => e.code === 'SHARD_ESTATE');
  assert.deepEqual(await pending, Buffer.from('100'));
  assert.equal(typeof pool.locate('k').index, 'number');
});

test('stats count the requests', async () => {
  const p = shard.Pool.open(config, 'alpha');
  for (let i = 0; i < 5; i++) await p.command('SET', `stats:${i}`, i);
  const stats = p.stats();
  assert.equal(stats.service, 'libshard');
  const requests = p.servers.reduce((n, s) => n + stats.alpha[s.name].requests, 0);
  assert.equal(requests, 5);
  assert.match(p.statsPrometheus(), /shard_/);
  await p.close();
});

test('a refused connection is a ShardConnectionError', async () => {
  const p = shard.Pool.fromYaml(poolYaml('down', [`127.0.0.1:${await freePort()}:1`], { timeout: 1000 }));
  await assert.rejects(p.command('GET', 'k'), (e) => {
    assert.ok(e instanceof shard.ShardConnectionError);
    assert.equal(e.code, 'SHARD_ECONN');
    assert.equal(e.errno, -7);
    return true;
  });
  await p.close();
});

test('a silent server times out without blocking the event loop', async () => {
  const silent = net.createServer(() => {}); // accepts, never answers
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  const p = shard.Pool.fromYaml(poolYaml('silent', [`127.0.0.1:${silent.address().port}:1`], { timeout: 300 }));
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 20);
  try {
    await assert.rejects(p.command('GET', 'k'), (e) => {
      assert.ok(e instanceof shard.ShardTimeoutError);
      assert.equal(e.code, 'SHARD_ETIMEDOUT');
      assert.match(e.message, /timed out/);
      return true;
    });
  } finally {
    clearInterval(timer);
    await p.close();
    silent.close();
  }
  assert.ok(ticks >= 5, `the loop ran ${ticks} times during the 300 ms wait`);
});

test('MGET with a server down gives per-key results', async () => {
  const own = [await startRedis(), await startRedis(), await startRedis()];
  const p = shard.Pool.fromYaml(poolYaml('partial', own, { timeout: 2000 }));
  try {
    const keys = keysOnEveryServer(p, 'partial', 3);
    for (const k of keys) await p.command('SET', k, k);
    const dead = p.servers[1].addr;
    stop(own.find((s) => s.addr === dead));
    await sleep(50);
    const got = await p.command('MGET', ...keys);
    keys.forEach((k, i) => {
      if (p.locate(k).addr === dead) assert.ok(got[i] instanceof shard.ReplyError, k);
      else assert.deepEqual(got[i], Buffer.from(k));
    });
  } finally {
    await p.close();
  }
});

test('config errors are ConfigErrors naming the line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shard-node-bad-'));
  const bad = path.join(dir, 'bad.yml');
  fs.writeFileSync(bad, 'alpha:\n  listen: 127.0.0.1:22121\n  hash: nope\n  servers:\n   - 127.0.0.1:6379:1\n');
  assert.throws(() => shard.Pool.open(bad), (e) => e instanceof shard.ConfigError && /bad\.yml:3/.test(e.message));
  assert.throws(() => shard.checkConfig(bad), shard.ConfigError);
  assert.throws(() => shard.Pool.open(config, 'nope'), (e) => e.code === 'SHARD_ENOPOOL');
  assert.throws(() => shard.Pool.open(path.join(dir, 'missing.yml')), shard.ShardError);
  shard.checkConfig(config);
});

test('close waits for queued commands, then calls fail', async () => {
  const p = shard.Pool.open(config, 'alpha');
  const pending = p.command('SET', 'close:k', 'v');
  const closed = p.close();
  assert.equal(await pending, 'OK');
  await closed;
  assert.ok(p.closed);
  await assert.rejects(p.command('GET', 'close:k'), (e) => e.code === 'SHARD_ESTATE');
  assert.throws(() => p.locate('k'), shard.ShardError);
});

test('events report connections', async () => {
  const events = [];
  const p = shard.Pool.fromYaml(poolYaml('events', servers.slice(0, 1)), null, { onEvent: (e) => events.push(e) });
  await p.command('SET', 'events:k', 'v');
  await p.close();
  assert.ok(events.length > 0);
  assert.equal(events[0].type, 'connected');
  assert.equal(events[0].pool, 'events');
  assert.equal(events[0].addr, servers[0].addr);
});

test('versions agree', () => {
  assert.equal(shard.libraryVersion(), shard.version);
  assert.ok(shard.strerror(-6).length > 0);
});

test('reload takes a new config live, or changes nothing', async () => {
  const events = [];
  const small = poolYaml('rl', servers.slice(0, 2));
  const full = poolYaml('rl', servers);
  const p = shard.Pool.fromYaml(small, null, { onEvent: (e) => events.push(e) });
  const fresh = shard.Pool.fromYaml(full);
  try {
    assert.equal(p.servers.length, 2);
    await p.reloadYaml(full);
    assert.deepEqual(p.servers, fresh.servers);
    for (let i = 0; i < 50; i++) assert.deepEqual(p.locate(`${i}:reload`), fresh.locate(`${i}:reload`));
    assert.ok(events.some((e) => e.type === 'reloaded' && e.server === null));
    await assert.rejects(p.reloadYaml(full.replace('redis: true', 'redis: true\n  hash: no')), shard.ConfigError);
    assert.equal(p.servers.length, 3);
    assert.equal(await p.command('SET', 'reload:k', 'v'), 'OK');
  } finally {
    await p.close();
    await fresh.close();
  }
});

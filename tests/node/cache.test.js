'use strict';
// The Node package on memcached pools: pool.mcCommand() (every memcached
// command by name) and the cache API, which must give the same results on
// a Redis pool and a memcached pool.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');

const shard = require('../../examples/node');
const { mcCall, startMemcached, startRedis, stop, stopAll, poolYaml, sleep } = require('./servers');

let redis;
let mc;
let mcServers;
let serial = 0;

/** A key no other test uses. */
const fresh = (name) => `${name}:${serial++}:${process.hrtime.bigint()}`;
const buf = (s) => Buffer.from(s);

before(async () => {
  mcServers = [await startMemcached(), await startMemcached()];
  const redisServers = [await startRedis(), await startRedis()];
  mc = shard.Pool.fromYaml(poolYaml('beta', mcServers, { redis: false, timeout: 2000 }));
  redis = shard.Pool.fromYaml(poolYaml('alpha', redisServers, { timeout: 2000 }));
});

after(async () => {
  await mc.close();
  await redis.close();
  stopAll();
});

/** `perServer` keys for each server of `p`, the servers interleaved. */
function keysPerServer(p, prefix, perServer = 2) {
  const found = new Map(p.servers.map((s) => [s.index, []]));
  for (let n = 0; [...found.values()].some((v) => v.length < perServer); n++) {
    const key = `${n}:${prefix}`;
    const list = found.get(p.locate(key).index);
    if (list.length < perServer) list.push(key);
  }
  const groups = [...found.values()];
  return groups[0].flatMap((_, i) => groups.map((g) => g[i]));
}

test('storage commands answer memcached statuses', async () => {
  const k = fresh('store');
  assert.equal(await mc.mcCommand('set', k, 0, 0, 'v'), 'STORED');
  assert.deepEqual(await mc.mcCommand('get', k), buf('v'));
  assert.equal(await mc.mcCommand('add', k, 0, 0, 'w'), 'NOT_STORED');
  assert.equal(await mc.mcCommand('replace', k, 0, 0, 'v2'), 'STORED');
  assert.equal(await mc.mcCommand('replace', fresh('none'), 0, 0, 'x'), 'NOT_STORED');
  assert.equal(await mc.mcCommand('append', k, 0, 0, '+a'), 'STORED');
  assert.equal(await mc.mcCommand('prepend', k, 0, 0, 'p+'), 'STORED');
  assert.deepEqual(await mc.mcCommand('get', k), buf('p+v2+a'));
  assert.equal(await mc.mcCommand('get', fresh('miss')), null);
  const bin = Buffer.from([0, 13, 10, 69, 78, 68, 13, 10, 255]);
  assert.equal(await mc.mcCommand('set', k, 0, 0, bin), 'STORED');
  assert.deepEqual(await mc.mcCommand('get', k), bin);
});

test('gets, cas, incr, decr, touch, delete, version', async () => {
  const k = fresh('cas');
  const n = fresh('n');
  await mc.mcCommand('set', k, 42, 0, 'one');
  const [value, flags, cas] = await mc.mcCommand('gets', k);
  assert.deepEqual([value, flags], [buf('one'), 42]);
  assert.ok(cas > 0);
  assert.equal(await mc.mcCommand('cas', k, 0, 0, 'two', cas), 'STORED');
  assert.equal(await mc.mcCommand('cas', k, 0, 0, 'three', cas), 'EXISTS');
  assert.equal(await mc.mcCommand('cas', fresh('none'), 0, 0, 'x', 1), 'NOT_FOUND');
  await mc.mcCommand('set', n, 0, 0, '10');
  assert.equal(await mc.mcCommand('incr', n, 5), 15);
  assert.equal(await mc.mcCommand('decr', n, 100), 0);
  assert.equal(await mc.mcCommand('incr', fresh('none'), 1), 'NOT_FOUND');
  await mc.mcCommand('set', n, 0, 0, String(2n ** 64n - 2n));
  assert.equal(await mc.mcCommand('incr', n, 1), 2n ** 64n - 1n); // unsigned
  assert.equal(await mc.mcCommand('touch', n, 100), 'TOUCHED');
  assert.equal(await mc.mcCommand('touch', fresh('none'), 100), 'NOT_FOUND');
  assert.equal(await mc.mcCommand('delete', n), 'DELETED');
  assert.equal(await mc.mcCommand('delete', n), 'NOT_FOUND');
  assert.match(await mc.mcCommand('version'), /^1\./);
});

test('a multi-key get and mset are split over the servers, per key', async () => {
  const keys = keysPerServer(mc, fresh('split'), 3);
  assert.equal(new Set(keys.map((k) => mc.locate(k).index)).size, 2);
  const stored = keys.slice(0, -1);
  const pairs = stored.flatMap((k) => [k, `v-${k}`]);
  assert.deepEqual(await mc.mcCommand('mset', 0, 0, ...pairs), stored.map(() => 'STORED'));
  const expected = [...stored.map((k) => buf(`v-${k}`)), null];
  assert.deepEqual(await mc.mcCommand('get', ...keys), expected);
  assert.deepEqual(await mc.mget(keys), expected);
  for (const k of stored) {
    for (const s of mcServers) {
      const held = (await mcCall(s.port, `get ${k}`)).startsWith('VALUE ');
      assert.equal(held, s.addr === mc.locate(k).addr, `${k} on ${s.addr}`);
    }
  }
});

test('server errors and refused commands reject with ReplyError', async () => {
  const k = fresh('text');
  await mc.mcCommand('set', k, 0, 0, 'abc');
  await assert.rejects(mc.mcCommand('incr', k, 1), (e) => e instanceof shard.ReplyError && /^CLIENT_ERROR/.test(e.message));
  await assert.rejects(mc.mcCommand('GET', k), (e) => e instanceof shard.ReplyError && e.prefix === 'ERR');
  await assert.rejects(redis.mcCommand('get', k), (e) => e instanceof shard.ShardError && e.code === 'SHARD_EUNSUPPORTED');
  await assert.rejects(mc.incr(k), (e) => e.code === 'SHARD_ESERVER' && e.errno === -13);
});

for (const [key, why] of [['a b', 'space'], ['k'.repeat(251), '251 bytes']]) {
  test(`a bad key (${why}) is refused clearly and the pool goes on`, async () => {
    await assert.rejects(mc.mcCommand('get', key), (e) => e instanceof shard.ReplyError && e.message.includes(why));
    for (const call of [() => mc.get(key), () => mc.set(key, 'v'), () => mc.mget(['fine', key])]) {
      await assert.rejects(call(), (e) => e instanceof shard.ShardError && e.code === 'SHARD_EINVAL' &&
        e.errno === -1 && e.message.includes('memcached keys'));
    }
    const k = fresh('after');
    await mc.set(k, 'still here');
    assert.deepEqual(await mc.get(k), buf('still here'));
    assert.deepEqual(await mc.mcCommand('get', k), buf('still here'));
  });
}

test('a dead memcached server is named and the others answer', async () => {
  const own = [await startMemcached(), await startMemcached()];
  const p = shard.Pool.fromYaml(poolYaml('gamma', own, { redis: false, timeout: 1000 }));
  try {
    const keys = keysPerServer(p, 'dead', 3);
    for (const k of keys) await p.set(k, k);
    const dead = p.servers[1].addr;
    stop(own.find((s) => s.addr === dead)); // SIGKILL
    const onDead = keys.filter((k) => p.locate(k).addr === dead);
    await assert.rejects(p.get(onDead[0]), (e) => e instanceof shard.ShardConnectionError && e.message.includes(dead));
    await assert.rejects(p.mcCommand('get', onDead[0]), (e) => e instanceof shard.ShardConnectionError && e.message.includes(dead));
    for (const values of [await p.mget(keys), await p.mcCommand('get', ...keys)]) {
      keys.forEach((k, i) => {
        if (onDead.includes(k)) {
          assert.ok(values[i] instanceof shard.ReplyError, k);
          assert.ok(values[i].message.includes(dead));
        } else {
          assert.deepEqual(values[i], buf(k));
        }
      });
    }
    const stored = await p.mset(keys.map((k) => [k, 'new']));
    assert.deepEqual(stored.map((r) => r === true), keys.map((k) => !onDead.includes(k)));
  } finally {
    await p.close();
  }
});

/** Every cache call; results that do not depend on the keys' names. */
async function cacheScript(p) {
  const [a, b, n, gone] = ['a', 'b', 'n', 'gone'].map(fresh);
  const out = [
    await p.get(a), await p.set(a, Buffer.from([0, 111, 110, 101])), await p.get(a),
    await p.add(a, 'two'), await p.get(a), await p.add(b, 'bee'),
    await p.mget([a, gone, b]), await p.mset({ [a]: 1, [b]: '2' }, 3600),
    await p.mget([a, b]), await p.incr(n), await p.set(n, '10'),
    await p.incr(n), await p.incr(n, 5), await p.decr(n, 100), await p.decr(n),
    await p.incr(n, 2n ** 63n - 1n), await p.touch(n, 3600), await p.touch(gone, 10),
    await p.delete(a), await p.delete(a), await p.get(a), await p.mget([]),
    await p.set(gone, 'month', 40 * 86400), await p.get(gone),
  ];
  await assert.rejects(p.incr(n, 2n ** 63n), RangeError);
  await assert.rejects(p.set(a, 'v', -1), RangeError);
  await assert.rejects(p.mget(a), TypeError); // one key, not its characters
  return out;
}

const EXPECTED = [
  null, undefined, Buffer.from([0, 111, 110, 101]), false, Buffer.from([0, 111, 110, 101]), true,
  [Buffer.from([0, 111, 110, 101]), null, buf('bee')], [true, true], [buf('1'), buf('2')], null,
  undefined, 11, 16, 0, 0, 2n ** 63n - 1n, true, false, undefined, undefined, null, [],
  undefined, buf('month'),
];

test('the cache calls give the documented results on a Redis pool', async () => {
  assert.deepEqual(await cacheScript(redis), EXPECTED);
});

test('the cache calls give the documented results on a memcached pool', async () => {
  assert.deepEqual(await cacheScript(mc), EXPECTED);
});

test('the same keys read the same on both backends, expiry included', async () => {
  const keys = Array.from({ length: 20 }, () => fresh('same'));
  for (const p of [redis, mc]) {
    assert.deepEqual(await p.mset(keys.filter((_, i) => i % 2 === 0).map((k) => [k, k])), Array(10).fill(true));
    await p.set(keys[1], 'short', 1);
  }
  assert.deepEqual(await redis.mget(keys), await mc.mget(keys));
  await sleep(2200);
  const [r, m] = [await redis.mget(keys), await mc.mget(keys)];
  assert.equal(r[1], null);
  assert.deepEqual(r, m);
});

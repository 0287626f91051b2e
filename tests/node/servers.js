'use strict';
// redis-servers and memcached on free loopback ports for the Node tests, each in a
// temporary directory, stopped by stopAll() (and killed with the test
// process: they get SIGTERM when its stdin pipe closes is not enough, so
// every test file calls stopAll() in an after() hook).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const started = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function resp(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const b = Buffer.from(String(a));
    parts.push(`$${b.length}\r\n${b}\r\n`);
  }
  return parts.join('');
}

/** One command over a plain socket; the first line of the reply. */
function rawCall(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host: '127.0.0.1', port });
    let data = '';
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')); });
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      data += chunk;
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        sock.end();
        resolve(data.slice(0, end));
      }
    });
    sock.write(resp(args));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startRedis() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shard-node-'));
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawn('redis-server', ['--port', String(port), '--bind',
      '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' });
    const server = { port, proc, dir, addr: `127.0.0.1:${port}` };
    started.push(server);
    for (let i = 0; i < 250 && proc.exitCode === null; i++) {
      try {
        if (await rawCall(port, 'PING') === '+PONG') return server;
      } catch (e) { /* not up yet */ }
      await sleep(20);
    }
    stop(server);
  }
  throw new Error('redis-server did not start');
}

/** One memcached command line over a plain socket; the first reply line. */
function mcCall(port, line) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host: '127.0.0.1', port });
    let data = '';
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('timeout')); });
    sock.on('error', reject);
    sock.on('data', (chunk) => {
      data += chunk;
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        sock.end();
        resolve(data.slice(0, end));
      }
    });
    sock.write(`${line}\r\n`);
  });
}

/** memcached on TCP only (-U 0), as tests/harness starts it. */
async function startMemcached() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shard-node-mc-'));
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0'];
    // memcached refuses to run as root without -u.
    if (process.getuid && process.getuid() === 0) args.push('-u', 'root');
    const proc = spawn('memcached', args, { stdio: 'ignore' });
    const server = { port, proc, dir, addr: `127.0.0.1:${port}` };
    started.push(server);
    for (let i = 0; i < 250 && proc.exitCode === null; i++) {
      try {
        if ((await mcCall(port, 'version')).startsWith('VERSION ')) return server;
      } catch (e) { /* not up yet */ }
      await sleep(20);
    }
    stop(server);
  }
  throw new Error('memcached did not start');
}

function stop(server) {
  if (server.proc.exitCode === null && server.proc.signalCode === null) {
    server.proc.kill('SIGKILL');
  }
  fs.rmSync(server.dir, { recursive: true, force: true });
}

function stopAll() {
  while (started.length) stop(started.pop());
}

process.on('exit', stopAll);

// directives.redis false: a memcached pool.
function poolYaml(name, servers, directives = {}) {
  const { redis = true, ...rest } = directives;
  directives = rest;
  const lines = [`${name}:`, '  listen: 127.0.0.1:22121', `  redis: ${redis}`];
  for (const [k, v] of Object.entries(directives)) lines.push(`  ${k}: ${v}`);
  lines.push('  servers:');
  for (const s of servers) lines.push(`   - ${typeof s === 'string' ? s : `${s.addr}:1`}`);
  return lines.join('\n') + '\n';
}

module.exports = {
  freePort, rawCall, mcCall, startRedis, startMemcached, stop, stopAll, poolYaml, sleep,
};

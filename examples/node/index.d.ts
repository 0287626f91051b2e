// Types of the libshard Node package (index.js).

/// <reference types="node" />

export type Arg = Buffer | Uint8Array | string | number | bigint;
export type Value = Buffer | string | number | bigint | null | ReplyError | Value[];

export interface Server {
  readonly index: number;
  /** What ketama hashes: the server's name, or "host:port". */
  readonly name: string;
  /** Where it is reached: "host:port" or a socket path. */
  readonly addr: string;
}

export interface ShardEvent {
  type: 'connected' | 'connect_failed' | 'disconnected' | 'ejected' |
        'returned' | 'probe_ok' | 'probe_failed' | 'reloaded' | 'switched';
  pool: string;
  /** null for an event about the whole pool (reloaded). */
  server: number | null;
  identity: string;
  addr: string;
  status: number;
  reason: string;
  delayMs: number;
}

export interface PoolOptions {
  /** "host:port" where the stats document is served, as nutcracker's. */
  statsListen?: string;
  /** Reload the file when it changes. */
  watchConfig?: boolean;
  /** Server events; runs inside the pool's calls, must not call the pool. */
  onEvent?: (event: ShardEvent) => void;
}

export class Pool {
  static open(path: string, name?: string | null, options?: PoolOptions): Pool;
  static fromYaml(text: string | Buffer, name?: string | null, options?: PoolOptions): Pool;
  readonly name: string;
  readonly servers: readonly Server[];
  readonly closed: boolean;
  locate(key: Arg): Server;
  reload(path: string): Promise<void>;
  reloadYaml(text: string | Buffer): Promise<void>;
  command(...args: Arg[]): Promise<Value>;
  commandServer(index: number, ...args: Arg[]): Promise<Value>;
  /**
   * A memcached command on a `redis: false` pool, as the words of its
   * ASCII protocol without the byte count (shard_mc_command_argv):
   * mcCommand('set', 'k', 0, 0, 'v'), mcCommand('get', 'k', 'x').
   * Integers are unsigned 64-bit (a bigint beyond 2^53).
   */
  mcCommand(...args: Arg[]): Promise<Value>;
  /** The cache API: the same results on Redis and memcached pools. */
  get(key: Arg): Promise<Buffer | null>;
  /** Per key, in order: the value, null for a miss, or a ReplyError naming a failed server. */
  mget(keys: Arg[]): Promise<Array<Buffer | null | ReplyError>>;
  /** ttl in seconds, 0 (the default): no expiry. */
  set(key: Arg, value: Arg, ttl?: number): Promise<void>;
  /** Per key, in order: true stored, or a ReplyError naming the failed server. */
  mset(entries: Record<string, Arg> | Map<Arg, Arg> | Array<[Arg, Arg]>, ttl?: number): Promise<Array<true | ReplyError>>;
  /** true when stored, false when the key existed (nothing changed). */
  add(key: Arg, value: Arg, ttl?: number): Promise<boolean>;
  delete(key: Arg): Promise<void>;
  /** The new value, or null when the key does not exist. */
  incr(key: Arg, delta?: number | bigint): Promise<number | bigint | null>;
  decr(key: Arg, delta?: number | bigint): Promise<number | bigint | null>;
  /** true when the key existed (its expiry changed), false when not. */
  touch(key: Arg, ttl: number): Promise<boolean>;
  pipeline(): Pipeline;
  stats(): any;
  statsPrometheus(): string;
  close(): Promise<void>;
}

export class Pipeline {
  readonly length: number;
  command(...args: Arg[]): this;
  exec(options?: { raiseOnError?: boolean }): Promise<Array<Value | ShardError>>;
}

export class LibshardError extends Error {}
export class ReplyError extends LibshardError {
  readonly prefix: string;
}
export class ShardError extends LibshardError {
  /** The SHARD_E* number, negative. */
  readonly errno: number;
  /** Its name: "SHARD_ETIMEDOUT", ... */
  readonly code: string;
}
export class ShardTimeoutError extends ShardError {}
export class ShardConnectionError extends ShardError {}
export class ConfigError extends ShardError {}

export function load(path?: string): unknown;
export function libraryVersion(): string;
export function strerror(code: number): string;
export function checkConfig(path: string): void;
export const version: string;

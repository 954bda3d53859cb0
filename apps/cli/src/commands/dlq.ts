import { userInfo } from 'node:os';
import { connect, type NatsConnection } from 'nats';
import type { Pool } from 'pg';
import {
  DLQ_STATUSES,
  discardEntry,
  DlqError,
  isDlqStatus,
  listEntries,
  redriveEntry,
  showEntry,
  type DlqEntrySummary,
  type ListFilter,
  type ShownEntry,
} from '@keel/dlq';
import { createPool } from '@keel/event-store';
import { BaseConfig, parseConfig } from '@keel/runtime';

/**
 * `keel dlq …`: operate the dead-letter queue the budget guard ingests into
 * PostgreSQL (see docs/dlq-runbook.md). Talks to PostgreSQL directly
 * (KEEL_DATABASE_URL, KEEL_DB_SCHEMA) and, to redrive, to NATS (KEEL_NATS_URL,
 * KEEL_NATS_USER / KEEL_NATS_PASSWORD / KEEL_NATS_INBOX_PREFIX of a user that
 * may publish to the original subjects). KEEL_OPERATOR names who acts
 * (default: the OS user).
 */
export const DLQ_USAGE = `usage: keel dlq <command>
  list [--status open|redriven|discarded|all] [--code CODE] [--run RUN_ID] [--consumer NAME]
       [--limit N] [--json]        entries, newest first (default: open, 50)
  show <id> [--json]               one entry with its headers and payload
  redrive <id> [--note TEXT] [--json]
                                   publish the original message again (new Nats-Msg-Id)
  discard <id> --reason TEXT [--json]
                                   give up on the entry, saying why`;

export interface DlqIo {
  out(line: string): void;
  err(line: string): void;
}

class UsageError extends Error {}

export async function dlq(args: string[], env: NodeJS.ProcessEnv, io: DlqIo): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'list':
        return await list(rest, env, io);
      case 'show':
        return await show(rest, env, io);
      case 'redrive':
        return await redrive(rest, env, io);
      case 'discard':
        return await discard(rest, env, io);
      case undefined:
        io.err(DLQ_USAGE);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        io.out(DLQ_USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command '${sub}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`keel dlq: ${err.message} (see 'keel dlq help')`);
      return 2;
    }
    io.err(`keel dlq: ${oneLine(err)}`);
    return 1;
  }
}

async function list(args: string[], env: NodeJS.ProcessEnv, io: DlqIo): Promise<number> {
  const a = parseArgs(args, ['--status', '--code', '--run', '--consumer', '--limit'], ['--json']);
  if (a.positional.length > 0) throw new UsageError(`unexpected argument '${a.positional[0]}'`);
  const status = a.options.get('--status') ?? 'open';
  if (status !== 'all' && !isDlqStatus(status)) {
    throw new UsageError(`--status must be one of ${[...DLQ_STATUSES, 'all'].join(', ')}`);
  }
  const limitText = a.options.get('--limit');
  const limit = limitText === undefined ? 50 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new UsageError('--limit must be an integer in 1..1000');
  }
  const filter: ListFilter = {
    status,
    limit,
    ...optional('code', a.options.get('--code')),
    ...optional('runId', a.options.get('--run')),
    ...optional('consumer', a.options.get('--consumer')),
  };
  const entries = await withPool(env, (pool) => listEntries(pool, filter));
  if (a.flags.has('--json')) {
    io.out(JSON.stringify(entries.map(summaryJson), null, 2));
    return 0;
  }
  if (entries.length === 0) {
    io.out(`no entries (status ${status})`);
    return 0;
  }
  io.out(
    table(
      ['ID', 'STATUS', 'CODE', 'CONSUMER', 'RUN', 'DEAD-LETTERED', 'REDRIVES', 'REASON'],
      entries.map((e) => [
        String(e.id),
        e.duplicateOf !== null ? `${e.status} (dup of #${e.duplicateOf})` : e.status,
        e.code,
        e.consumer,
        e.runId ?? '-',
        time(e.deadLetteredAt),
        String(e.redriveCount),
        clip(e.reason, 70),
      ]),
    ),
  );
  return 0;
}

async function show(args: string[], env: NodeJS.ProcessEnv, io: DlqIo): Promise<number> {
  const a = parseArgs(args, [], ['--json']);
  const id = idOf(a.positional);
  const e = await withPool(env, (pool) => showEntry(pool, id));
  if (a.flags.has('--json')) {
    io.out(JSON.stringify(shownJson(e), null, 2));
    return 0;
  }
  const rows: Array<[string, string]> = [
    ['kind', e.kind],
    ['code', e.code],
    ['reason', e.reason],
    ['consumer', e.consumer],
    ['stream', e.stream === null ? '-' : `${e.stream} seq ${e.streamSeq ?? '-'}`],
    ['subject', e.subject ?? '-'],
    ['deliveries', e.deliveries === null ? '-' : String(e.deliveries)],
    ['run', e.runId ?? '-'],
    ['trace', e.traceId ?? '-'],
    ['dead-lettered', time(e.deadLetteredAt)],
    ['ingested', `${time(e.ingestedAt)} (DLQ seq ${e.dlqStreamSeq})`],
    ['redrives', String(e.redriveCount)],
  ];
  if (e.resolvedAt !== null) {
    rows.push([
      'resolved',
      `${time(e.resolvedAt)} by ${e.resolvedBy ?? '?'}${e.resolutionNote ? `: ${e.resolutionNote}` : ''}`,
    ]);
  }
  if (e.duplicateOf !== null) rows.push(['duplicate of', `#${e.duplicateOf}`]);
  io.out(`dead letter #${e.id}  ${e.status}`);
  for (const [k, v] of rows) io.out(`  ${k.padEnd(15)}${v}`);
  const headers = Object.entries(e.headers);
  io.out(`headers${headers.length === 0 ? '  (none)' : ''}`);
  for (const [k, v] of headers) io.out(`  ${k}: ${v}`);
  const p = e.payload;
  if (p === null) {
    io.out('payload  (not available)');
  } else {
    io.out(`payload  (${p.bytes} bytes, ${p.encoding})`);
    const body =
      p.encoding === 'json'
        ? JSON.stringify(p.json, null, 2)
        : p.encoding === 'utf8'
          ? p.text
          : p.base64;
    for (const line of body.split('\n')) io.out(`  ${line}`);
  }
  return 0;
}

async function redrive(args: string[], env: NodeJS.ProcessEnv, io: DlqIo): Promise<number> {
  const a = parseArgs(args, ['--note'], ['--json']);
  const id = idOf(a.positional);
  const note = a.options.get('--note');
  const config = parseConfig(BaseConfig, env);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: config.KEEL_NATS_URL.split(','),
      name: 'keel-dlq',
      timeout: 5_000,
      ...(config.KEEL_NATS_USER ? { user: config.KEEL_NATS_USER } : {}),
      ...(config.KEEL_NATS_PASSWORD ? { pass: config.KEEL_NATS_PASSWORD } : {}),
      ...(config.KEEL_NATS_INBOX_PREFIX ? { inboxPrefix: config.KEEL_NATS_INBOX_PREFIX } : {}),
    });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${config.KEEL_NATS_URL}: ${oneLine(err)}`, {
      cause: err,
    });
  }
  try {
    const js = nc.jetstream();
    const r = await withPool(env, (pool) =>
      redriveEntry({ pool, js }, id, {
        by: operator(env),
        ...(note !== undefined ? { note } : {}),
      }),
    );
    if (a.flags.has('--json')) io.out(JSON.stringify(r, null, 2));
    else
      io.out(
        `redriven #${r.id} (redrive ${r.redriveCount}) to ${r.subject}: ${r.stream} seq ${r.seq}, Nats-Msg-Id ${r.msgId}${r.duplicate ? ' (already in the stream: JetStream kept the earlier copy)' : ''}`,
      );
    return 0;
  } finally {
    await nc.drain().catch(() => undefined);
  }
}

async function discard(args: string[], env: NodeJS.ProcessEnv, io: DlqIo): Promise<number> {
  const a = parseArgs(args, ['--reason'], ['--json']);
  const id = idOf(a.positional);
  const reason = a.options.get('--reason');
  if (reason === undefined || reason.trim() === '') {
    throw new UsageError('discard needs --reason "why this message is given up on"');
  }
  const e = await withPool(env, (pool) => discardEntry(pool, id, { by: operator(env), reason }));
  if (a.flags.has('--json')) io.out(JSON.stringify(summaryJson(e), null, 2));
  else io.out(`discarded #${e.id} (${e.code}): ${reason}`);
  return 0;
}

async function withPool<T>(env: NodeJS.ProcessEnv, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const config = parseConfig(BaseConfig, env);
  const pool = createPool({
    connectionString: config.KEEL_DATABASE_URL,
    schema: config.KEEL_DB_SCHEMA,
    max: 2,
    applicationName: 'keel-dlq',
  });
  try {
    try {
      await pool.query('SELECT 1');
    } catch (err) {
      throw new Error(
        `cannot connect to PostgreSQL at ${redacted(config.KEEL_DATABASE_URL)}: ${oneLine(err)}`,
        { cause: err },
      );
    }
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

function redacted(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid KEEL_DATABASE_URL)';
  }
}

interface ParsedArgs {
  positional: string[];
  options: Map<string, string>;
  flags: Set<string>;
}

/** `--name value` / `--name=value` options, boolean `--flag`s, positionals; anything else is a usage error. */
function parseArgs(args: string[], options: string[], flags: string[]): ParsedArgs {
  const out: ParsedArgs = { positional: [], options: new Map(), flags: new Set() };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      out.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    if (flags.includes(name) && eq < 0) {
      out.flags.add(name);
    } else if (options.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      out.options.set(name, value);
    } else {
      throw new UsageError(`unknown option '${name}'`);
    }
  }
  return out;
}

function idOf(positional: string[]): number {
  const [text, extra] = positional;
  if (text === undefined) throw new UsageError('which entry? give its id (keel dlq list)');
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  const id = Number(text.replace(/^#/, ''));
  if (!Number.isSafeInteger(id) || id < 1) throw new UsageError(`invalid entry id '${text}'`);
  return id;
}

function operator(env: NodeJS.ProcessEnv): string {
  if (env.KEEL_OPERATOR) return env.KEEL_OPERATOR;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

const optional = <K extends string>(key: K, value: string | undefined) =>
  (value !== undefined ? { [key]: value } : {}) as Partial<Record<K, string>>;

function summaryJson(e: DlqEntrySummary) {
  return {
    ...e,
    deadLetteredAt: e.deadLetteredAt.toISOString(),
    ingestedAt: e.ingestedAt.toISOString(),
    resolvedAt: e.resolvedAt?.toISOString() ?? null,
  };
}

function shownJson(e: ShownEntry) {
  const { payload, ...rest } = e;
  return {
    ...summaryJson({ ...rest, payloadBytes: payload?.bytes ?? null }),
    payload,
  };
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

const time = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

const clip = (s: string, n: number) => {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
};

function oneLine(err: unknown): string {
  if (err instanceof DlqError) return err.message;
  // pg reports a refused connection as an AggregateError with an empty message.
  if (err instanceof AggregateError && err.errors.length > 0) return oneLine(err.errors[0]);
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, ' ').trim() || String(err);
}

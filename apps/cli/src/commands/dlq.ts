import { userInfo } from 'node:os';
import {
  DLQ_STATUSES,
  discardEntry,
  DlqError,
  entrySummaryJson,
  isDlqStatus,
  listEntries,
  redriveEntry,
  showEntry,
  shownEntryJson,
  type ListFilter,
} from '@keel/dlq';
import { oneLine, onePositional, parseArgs, UsageError, type ParsedArgs } from '../cli-kit/args';
import { withNats, withPool } from '../cli-kit/connections';
import { runSubcommands, type CliIo } from '../cli-kit/io';
import { clip, table } from '../cli-kit/table';

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

export function dlq(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  return runSubcommands(
    'keel dlq',
    DLQ_USAGE,
    args,
    io,
    {
      list: (rest) => list(rest, env, io),
      show: (rest) => show(rest, env, io),
      redrive: (rest) => redrive(rest, env, io),
      discard: (rest) => discard(rest, env, io),
    },
    // DlqError messages are one line meant for an operator: printed as they are.
    (err) => (err instanceof DlqError ? err.message : oneLine(err)),
  );
}

async function list(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
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
  const entries = await withPool(env, 'keel-dlq', (pool) => listEntries(pool, filter));
  if (a.flags.has('--json')) {
    io.out(JSON.stringify(entries.map(entrySummaryJson), null, 2));
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

async function show(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const a = parseArgs(args, [], ['--json']);
  const id = idOf(a);
  const e = await withPool(env, 'keel-dlq', (pool) => showEntry(pool, id));
  if (a.flags.has('--json')) {
    io.out(JSON.stringify(shownEntryJson(e), null, 2));
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

async function redrive(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const a = parseArgs(args, ['--note'], ['--json']);
  const id = idOf(a);
  const note = a.options.get('--note');
  return withNats(env, 'keel-dlq', async (nc) => {
    const js = nc.jetstream();
    const r = await withPool(env, 'keel-dlq', (pool) =>
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
  });
}

async function discard(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const a = parseArgs(args, ['--reason'], ['--json']);
  const id = idOf(a);
  const reason = a.options.get('--reason');
  if (reason === undefined || reason.trim() === '') {
    throw new UsageError('discard needs --reason "why this message is given up on"');
  }
  const e = await withPool(env, 'keel-dlq', (pool) =>
    discardEntry(pool, id, { by: operator(env), reason }),
  );
  if (a.flags.has('--json')) io.out(JSON.stringify(entrySummaryJson(e), null, 2));
  else io.out(`discarded #${e.id} (${e.code}): ${reason}`);
  return 0;
}

function idOf(a: ParsedArgs): number {
  const text = onePositional(a, 'which entry? give its id (keel dlq list)');
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

const time = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

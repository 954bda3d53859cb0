import { RunStatus } from '@keel/run-domain';
import { timelineFacts, type RunSummary } from '@keel/projections';
import { listSummaries, loadSummary, readRunEvents } from '@keel/projections/store';
import { onePositional, parseArgs, UsageError } from '../cli-kit/args';
import { withPool } from '../cli-kit/connections';
import { runSubcommands, type CliIo } from '../cli-kit/io';
import { clip, table } from '../cli-kit/table';
import { explainMissingSummaries } from '../runs/missing-summaries';

/**
 * `keel runs …`: find a run and read its story, straight from PostgreSQL
 * (KEEL_DATABASE_URL, KEEL_DB_SCHEMA). `list` reads the `run_summaries` read
 * model (kept by the API's projector; `keel projections rebuild` refills it);
 * `show` prints a run's summary and its timeline from the event log.
 */
export const RUNS_USAGE = `usage: keel runs <command>
  list [--status S] [--tenant T] [--limit N] [--json]
                                   runs, newest first (default 50)
  show <run-id> [--json]           a run's summary and its whole timeline`;

/** The statuses a run can have (run-domain's, defined once). */
const STATUSES: readonly string[] = Object.values(RunStatus);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function runs(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  return runSubcommands('keel runs', RUNS_USAGE, args, io, {
    list: (rest) => list(rest, env, io),
    show: (rest) => show(rest, env, io),
  });
}

async function list(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const a = parseArgs(args, ['--status', '--tenant', '--limit'], ['--json']);
  if (a.positional.length > 0) throw new UsageError(`unexpected argument '${a.positional[0]}'`);
  const status = a.options.get('--status');
  if (status !== undefined && !STATUSES.includes(status))
    throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
  const limit = Number(a.options.get('--limit') ?? '50');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError('--limit must be an integer in 1..1000');
  const tenant = a.options.get('--tenant');
  const page = await withPool(env, 'keel-runs', (pool) =>
    listSummaries(pool, {
      limit,
      ...(tenant !== undefined ? { tenant } : {}),
      ...(status !== undefined ? { status } : {}),
    }).catch(explainMissingSummaries),
  );
  if (a.flags.has('--json')) {
    io.out(JSON.stringify(page.runs, null, 2));
    return 0;
  }
  if (page.runs.length === 0) {
    io.out('no runs');
    return 0;
  }
  io.out(
    table(
      [
        'RUN',
        'TENANT',
        'STATUS',
        'STEPS',
        'TOOLS',
        'TOKENS IN/OUT',
        'COST USD',
        'CREATED',
        'RESULT',
      ],
      page.runs.map((r) => [
        r.runId,
        r.tenant,
        r.status,
        String(r.steps),
        r.toolCallsFailed > 0
          ? `${r.toolCalls} (${r.toolCallsFailed} failed)`
          : String(r.toolCalls),
        `${r.tokensIn}/${r.tokensOut}`,
        usd(r.costMicros),
        time(r.createdAt),
        clip(resultOf(r), 60),
      ]),
    ),
  );
  return 0;
}

async function show(args: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const a = parseArgs(args, [], ['--json']);
  const runId = onePositional(a, 'which run? give its id (keel runs list)');
  if (!UUID_RE.test(runId)) throw new UsageError(`'${runId}' is not a run id (a UUID)`);
  const { summary, events } = await withPool(env, 'keel-runs', async (pool) => ({
    summary: await loadSummary(pool, runId).catch(explainMissingSummaries),
    events: await readRunEvents(pool, runId),
  }));
  if (!summary && events.length === 0) throw new Error(`run ${runId} not found`);
  const timeline = events.map((e) => ({
    at: e.createdAt.toISOString(),
    streamId: e.streamId,
    streamVersion: e.streamVersion,
    type: e.type,
    ...timelineFacts(e, e.metadata.producer),
  }));
  if (a.flags.has('--json')) {
    io.out(JSON.stringify({ summary: summary ?? null, events: timeline }, null, 2));
    return 0;
  }
  if (summary) printSummary(summary, io);
  else io.out(`run ${runId}  (not projected yet: run the API, or keel projections rebuild)`);
  io.out('');
  io.out(
    table(
      ['TIME', 'SOURCE', 'EVENT', 'STEP', 'ATTEMPT', 'TOKENS', 'LATENCY', 'ERROR'],
      timeline.map((t) => [
        t.at.replace(/^\d{4}-\d\d-\d\dT/, ''),
        t.source,
        eventLabel(t),
        t.step === null ? '-' : String(t.step),
        t.attempt === null ? '-' : String(t.attempt),
        t.tokens ? `${t.tokens.input}/${t.tokens.output}` : '-',
        t.latencyMs === null ? '-' : `${Math.round(t.latencyMs)} ms`,
        t.error ? clip(`${t.error.code}: ${t.error.message}`, 70) : '-',
      ]),
    ),
  );
  return 0;
}

function printSummary(s: RunSummary, io: CliIo): void {
  const rows: Array<[string, string]> = [
    ['tenant', s.tenant],
    ['request', s.requestId ?? '-'],
    ['status', s.reviewStep !== null ? `${s.status} (review of step ${s.reviewStep})` : s.status],
    ['steps', String(s.steps)],
    ['model calls', String(s.modelCalls)],
    ['tool calls', `${s.toolCalls} (${s.toolCallsFailed} failed)`],
    ['tokens', `${s.tokensIn} in / ${s.tokensOut} out`],
    ['cost', `$${usd(s.costMicros)}`],
    ['created', time(s.createdAt)],
    ['ended', time(s.endedAt)],
    ['result', resultOf(s)],
  ];
  io.out(`run ${s.runId}`);
  for (const [k, v] of rows) io.out(`  ${k.padEnd(13)}${v}`);
}

/** The event type, with the stream it is on when that is not the run's own. */
function eventLabel(t: { streamId: string; type: string }): string {
  return t.streamId.startsWith('run:') ? t.type : `${t.type} [${t.streamId.split(':')[0]}]`;
}

const resultOf = (r: RunSummary) =>
  r.answer !== null && r.reasonCode === null
    ? r.answer
    : r.reasonCode !== null
      ? `${r.reasonCode}: ${r.reasonMessage ?? ''}${r.answer ? ` — ${r.answer}` : ''}`
      : '-';
const usd = (micros: number) => (micros / 1_000_000).toFixed(6);
const time = (iso: string | null) => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-');

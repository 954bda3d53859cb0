import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PoolClient } from 'pg';
import {
  currentSchemaVersion,
  EventMetadata,
  runIdFor,
  toolCallIdFor,
  uuidv7,
  validateNewEvent,
} from '@keel/contracts';
import { appendToStream, createPool, dropSchema, migrate, type NewEvent } from '@keel/event-store';
import { distribution } from './distribution';
import { cpuSeconds } from './proc-stats';
import { alignColumns } from './report/render-table';

/**
 * `npm run bench:append [-- --appends 4000]` — what one commit from Node costs,
 * by statement shape, on one connection with `synchronous_commit=on`
 * (docs/performance.md, "Bound by the whole machine's CPU"):
 *
 *   select 1             a round trip, no commit
 *   insert               a plain one-row INSERT, autocommit
 *   append (JSON)        Keel's `appendToStream` with its inbox row: the planner's 3 events of
 *                        a tool round as one JSON parameter (`jsonb_to_recordset`)
 *   append (text[])      the same append in the shape it replaced: one text[] per
 *                        column, data and metadata as JSON text cast to jsonb
 *
 * Shapes take turns in 10 rounds so the machine's drift hits them alike. Prints
 * p50/p90 latency, client CPU and PostgreSQL backend CPU per operation (from
 * /proc), and writes bench/results/append-<date>.json. The appends' client CPU
 * includes building their three events (ids included), the same for both.
 */
const ROOT = join(__dirname, '..', '..');
const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROUNDS = 10;

/** The append-with-inbox statement as it was before `97b7ba2`, kept only to measure against. */
const TEXT_ARRAYS_SQL = `
WITH head AS (SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1
), ib AS (
  INSERT INTO inbox (consumer, message_id) SELECT $8, $9 WHERE (SELECT version FROM head) = $2::int
  ON CONFLICT DO NOTHING RETURNING 1 AS ok
), ins AS (
  INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)
  SELECT e.event_id, $1, ($2::int + e.ord)::int, e.type, e.schema_version, e.data::jsonb, e.metadata::jsonb
  FROM unnest($3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[])
         WITH ORDINALITY AS e(event_id, type, schema_version, data, metadata, ord)
  WHERE EXISTS (SELECT 1 FROM ib) ORDER BY e.ord
  RETURNING global_position::text AS global_position, transaction_id::text AS transaction_id,
    stream_version, created_at
)
SELECT (SELECT version FROM head) AS head_version, (SELECT count(*) FROM ib)::int AS inbox_new,
  ins.global_position, ins.transaction_id, ins.stream_version, ins.created_at
FROM (SELECT 1) AS one LEFT JOIN ins ON true`;

/**
 * The planner's commit of one agent-run-10 tool round: the tool's result (a ~200-byte output),
 * the next decision and the call it requests — JSON dense with keys and quotes, as stored.
 */
function threeEvents(): { streamId: string; events: NewEvent[] } {
  const requestId = uuidv7();
  const runId = runIdFor('bench', requestId);
  const meta = () => ({
    eventId: uuidv7(),
    correlationId: runId,
    causationId: uuidv7(),
    tenant: 'bench',
    producer: 'planner',
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
  });
  const previous = toolCallIdFor(runId, 2, 0);
  const next = toolCallIdFor(runId, 3, 0);
  const input = { text: 'say "hi" to the café', n: 3 };
  const output = {
    ok: true,
    echo: { text: 'say "hi" to the café', n: 3 },
    items: [1, 2, 3].map((i) => ({ id: i, label: `item "${i}"`, done: i % 2 === 0 })),
  };
  return {
    streamId: `run:${runId}`,
    events: [
      {
        type: 'ToolResultRecorded',
        data: { step: 2, callId: previous, tool: 'noop', outcome: { ok: true, output } },
        metadata: meta(),
      },
      {
        type: 'ModelDecisionRecorded',
        data: {
          step: 3,
          attempt: 1,
          role: 'reasoning',
          provider: 'scripted',
          model: 'keel-scripted',
          promptVersion: 'planner-v3',
          toolVersions: { noop: '1' },
          decision: {
            kind: 'tool_calls',
            calls: [{ callId: next, tool: 'noop', input }],
            confidence: 0.9,
            reasoning: 'The "noop" tool answers this; one call is enough.',
          },
          usage: { inputTokens: 812, outputTokens: 64 },
          latencyMs: 0.512,
        },
        metadata: meta(),
      },
      {
        type: 'ToolCallRequested',
        data: {
          step: 3,
          callId: next,
          tool: 'noop',
          pool: 'default',
          input,
          idempotencyKey: `${runId}:3:0`,
        },
        metadata: meta(),
      },
    ],
  };
}

type Shape = (c: PoolClient, n: number) => Promise<unknown>;

const SHAPES: Record<string, Shape> = {
  'select 1': (c) => c.query({ name: 'b_select', text: 'SELECT 1' }),
  insert: (c, n) =>
    c.query({
      name: 'b_insert',
      text: 'INSERT INTO bench_rows (n, data) VALUES ($1, $2::jsonb)',
      values: [n, '{"result":"ok"}'],
    }),
  'append (JSON)': (c, n) => {
    const { streamId, events } = threeEvents();
    return appendToStream(c, streamId, 0, events, {
      inbox: { consumer: 'bench', messageId: `json-${n}` },
    });
  },
  'append (text[])': (c, n) => {
    const { streamId, events } = threeEvents();
    // Validated as appendToStream validates, so the two appends differ only in their shape.
    const valid = events.map((e) => ({
      event: validateNewEvent(e),
      metadata: EventMetadata.parse(e.metadata),
    }));
    return c.query({
      name: 'b_text_arrays',
      text: TEXT_ARRAYS_SQL,
      values: [
        streamId,
        0,
        valid.map((v) => v.metadata.eventId),
        valid.map((v) => v.event.type),
        valid.map((v) => currentSchemaVersion(v.event.type)),
        valid.map((v) => JSON.stringify(v.event.data)),
        valid.map((v) => JSON.stringify(v.metadata)),
        'bench',
        `text-${n}`,
      ],
    });
  },
};

async function main(): Promise<void> {
  const arg = process.argv.indexOf('--appends');
  const perShape = arg > 0 ? Number(process.argv[arg + 1]) : 4000;
  if (!Number.isInteger(perShape) || perShape < ROUNDS)
    throw new Error(`--appends must be an integer >= ${ROUNDS}`);
  const schema = `bench_append_${randomBytes(4).toString('hex')}`;
  const pool = createPool({ connectionString: DATABASE_URL, schema, max: 1 });
  await migrate(pool, schema);
  const c = await pool.connect();
  try {
    await c.query('SET synchronous_commit = on');
    await c.query('CREATE TABLE bench_rows (n int NOT NULL, data jsonb NOT NULL)');
    const backend = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const stats = Object.fromEntries(
      Object.keys(SHAPES).map((k) => [k, { latencyMs: [] as number[], clientS: 0, backendS: 0 }]),
    );
    let n = 0;
    for (const shape of Object.values(SHAPES)) for (let i = 0; i < 50; i++) await shape(c, ++n); // warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, shape] of Object.entries(SHAPES)) {
        const s = stats[name]!;
        const cpu0 = process.cpuUsage();
        const backend0 = cpuSeconds(backend);
        for (let i = 0; i < perShape / ROUNDS; i++) {
          const t0 = performance.now();
          await shape(c, ++n);
          s.latencyMs.push(performance.now() - t0);
        }
        const cpu = process.cpuUsage(cpu0);
        s.clientS += (cpu.user + cpu.system) / 1e6;
        s.backendS += cpuSeconds(backend) - backend0;
      }
    }
    const results = {
      workload: 'append shapes: one connection, synchronous_commit=on',
      startedAt: new Date().toISOString(),
      perShape,
      shapes: Object.fromEntries(
        Object.entries(stats).map(([name, s]) => [
          name,
          {
            latencyMs: distribution(s.latencyMs),
            clientCpuMsPerOp: (s.clientS * 1000) / s.latencyMs.length,
            backendCpuMsPerOp: (s.backendS * 1000) / s.latencyMs.length,
          },
        ]),
      ),
    };
    console.log(
      alignColumns(
        ['statement', 'p50 (ms)', 'p90 (ms)', 'client CPU ms/op', 'PostgreSQL CPU ms/op'],
        Object.entries(results.shapes).map(([name, r]) => [
          name,
          r.latencyMs.p50.toFixed(3),
          r.latencyMs.p90.toFixed(3),
          r.clientCpuMsPerOp.toFixed(3),
          r.backendCpuMsPerOp.toFixed(3),
        ]),
      ),
    );
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `append-${results.startedAt.replace(/[:.]/g, '-').slice(0, 19)}Z.json`);
    writeFileSync(file, JSON.stringify(results, null, 2));
    console.log(`\nwrote ${file}`);
  } finally {
    c.release();
    await pool.end();
    await dropSchema(DATABASE_URL, schema);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

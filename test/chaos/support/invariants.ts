import { DeadLetter, streamIds } from '@keel/contracts';
import { waitFor } from '@keel/testing';
import type { KeelStack } from '../../support/stack';
import { readStreamEventIds } from './stream-contents';

/**
 * The invariants every chaos scenario checks at the end, over what was
 * recorded (PostgreSQL, JetStream, the receivers): never over timing.
 *
 * 1. every run reaches a final state — completed, degraded, failed with a
 *    reason, cancelled, timed out, or in the DLQ with its context;
 * 2. no event acknowledged by PostgreSQL is missing — every row of `events`
 *    is on the events stream (by event id) and every event a test writer got
 *    a commit ack for is in the table;
 * 3. every stream's versions are gapless (1..n);
 * 4. every external side effect happened exactly once per key (counted at
 *    the receiver), and no logical record was written twice (one terminal
 *    event per run, one outcome per tool call and delivery);
 * 5. no budget exceeded (reservations within their limits, settled tokens
 *    within the run's limit);
 * 6. every consumer still consuming: the expected durables exist and drain
 *    (no pending, no ack-pending) before a deadline.
 */
export interface InvariantReport {
  runs: number;
  /** completed | degraded | failed | cancelled | timed_out | dlq | none */
  finalStates: Record<string, number>;
  /** Effects beyond one per key, plus logical records written twice. */
  duplicates: number;
  /** Events in the log that never reached the events stream, plus acked events not in the log. */
  lostEvents: number;
  /** Streams whose versions are not exactly 1..n. */
  gaps: string[];
  /** Reservations or runs over a limit. */
  overBudget: string[];
  /** Durable consumers missing or not drained by the deadline. */
  stuckConsumers: string[];
  /** Every failed invariant, in words. */
  violations: string[];
  /** Extra copies of an event on the events stream (transport only; consumers dedupe them). */
  transportDuplicates: number;
}

export interface CheckInvariantsInput {
  stack: KeelStack;
  runIds: readonly string[];
  /** A receiver's count of effects by key: each must be exactly 1. */
  effects?: { countsByKey(): ReadonlyMap<string, number> };
  /** Default true: a run without a final state is a violation. */
  expectFinal?: boolean;
  /** Event ids whose commit a test writer saw acknowledged: each must be in the log. */
  ackedEventIds?: readonly string[];
  /** How many distinct keys the receiver must have seen (when the test knows). */
  expectedEffectKeys?: number;
  /** How long to wait for runs to end, the stream to catch up and consumers to drain. Default 60 s. */
  settleTimeoutMs?: number;
}

const ENDINGS: Record<string, string> = {
  RunCompleted: 'completed',
  RunDegraded: 'degraded',
  RunFailed: 'failed',
  RunCancelled: 'cancelled',
  RunTimedOut: 'timed_out',
};

export async function checkInvariants(input: CheckInvariantsInput): Promise<InvariantReport> {
  const { stack, runIds } = input;
  const timeoutMs = input.settleTimeoutMs ?? 60_000;
  const violations: string[] = [];

  const finals = await finalStates(stack, runIds, input.expectFinal ?? true, timeoutMs);
  violations.push(...finals.violations);

  const lost = await lostEvents(stack, input.ackedEventIds ?? [], timeoutMs);
  violations.push(...lost.violations);

  const gaps = await streamGaps(stack);
  for (const g of gaps) violations.push(`stream ${g} is not gapless`);

  const dup = await duplicateEffects(stack, input.effects, input.expectedEffectKeys);
  violations.push(...dup.violations);

  const overBudget = await budgetsExceeded(stack);
  for (const o of overBudget) violations.push(`over budget: ${o}`);

  const stuckConsumers = await stuck(stack, timeoutMs);
  for (const s of stuckConsumers) violations.push(`consumer not consuming: ${s}`);

  return {
    runs: runIds.length,
    finalStates: finals.counts,
    duplicates: finals.duplicates + dup.count,
    lostEvents: lost.count,
    gaps,
    overBudget,
    stuckConsumers,
    violations,
    transportDuplicates: lost.transportDuplicates,
  };
}

/** Fails the current jest test with every violation listed. */
export function expectInvariants(report: InvariantReport): void {
  if (report.violations.length === 0) return;
  const summary = JSON.stringify({ ...report, violations: undefined });
  throw new Error(
    `${report.violations.length} invariant violation(s):\n  - ${report.violations
      .slice(0, 50)
      .join('\n  - ')}\nreport: ${summary}`,
  );
}

async function finalStates(
  stack: KeelStack,
  runIds: readonly string[],
  expectFinal: boolean,
  timeoutMs: number,
): Promise<{ counts: Record<string, number>; duplicates: number; violations: string[] }> {
  const read = async () => {
    const { rows } = await stack.pool.query<{
      stream_id: string;
      type: string;
      data: { error?: { code?: string; message?: string } };
    }>(
      `SELECT stream_id, type, data FROM events
        WHERE stream_id = ANY($1::text[]) AND type = ANY($2::text[])
        ORDER BY global_position`,
      [runIds.map((r) => streamIds.run(r)), Object.keys(ENDINGS)],
    );
    const byRun = new Map<string, typeof rows>();
    for (const r of rows) byRun.set(r.stream_id, [...(byRun.get(r.stream_id) ?? []), r]);
    const dlq = await deadLetteredRuns(stack);
    const open = runIds.filter((id) => !byRun.has(streamIds.run(id)) && !dlq.has(id));
    return { byRun, dlq, open };
  };
  let state = await read();
  if (expectFinal && state.open.length > 0) {
    await waitFor(
      async () => {
        state = await read();
        return state.open.length === 0;
      },
      { timeoutMs, description: 'every run to end' },
    ).catch(() => undefined);
  }
  const counts: Record<string, number> = {};
  const violations: string[] = [];
  let duplicates = 0;
  for (const runId of runIds) {
    const endings = state.byRun.get(streamIds.run(runId)) ?? [];
    const first = endings[0];
    const final = first ? ENDINGS[first.type]! : state.dlq.has(runId) ? 'dlq' : 'none';
    counts[final] = (counts[final] ?? 0) + 1;
    if (endings.length > 1) {
      duplicates += endings.length - 1;
      violations.push(
        `run ${runId} ended ${endings.length} times (${endings.map((e) => e.type).join(', ')})`,
      );
    }
    if (first?.type === 'RunFailed' && !first.data.error?.code && !first.data.error?.message)
      violations.push(`run ${runId} failed without a reason`);
    if (final === 'none' && expectFinal) violations.push(`run ${runId} has no final state`);
  }
  return { counts, duplicates, violations };
}

/** Runs with a dead letter that names them: ingested rows plus the DLQ stream itself. */
async function deadLetteredRuns(stack: KeelStack): Promise<Set<string>> {
  const found = new Set<string>();
  const { rows } = await stack.pool
    .query<{ run_id: string }>('SELECT DISTINCT run_id FROM dead_letters WHERE run_id IS NOT NULL')
    .catch(() => ({ rows: [] as { run_id: string }[] }));
  for (const r of rows) found.add(r.run_id);
  const info = await stack.jsm.streams.info(stack.names.streams.dlq).catch(() => undefined);
  if (!info || info.state.messages === 0) return found;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await stack.jsm.streams
      .getMessage(stack.names.streams.dlq, { seq })
      .catch(() => undefined);
    if (!m || !m.subject.startsWith(`${stack.names.prefix}.dlq.`)) continue;
    const dl = DeadLetter.safeParse(m.json());
    if (dl.success && dl.data.runId) found.add(dl.data.runId);
  }
  return found;
}

async function lostEvents(
  stack: KeelStack,
  acked: readonly string[],
  timeoutMs: number,
): Promise<{ count: number; transportDuplicates: number; violations: string[] }> {
  const violations: string[] = [];
  const logIds = async () =>
    new Set(
      (await stack.pool.query<{ event_id: string }>('SELECT event_id::text FROM events')).rows.map(
        (r) => r.event_id,
      ),
    );
  let inLog = await logIds();
  let onStream = new Map<string, number>();
  let missing: string[] = [];
  const compare = async () => {
    inLog = await logIds();
    onStream = await readStreamEventIds(stack);
    missing = [...inLog].filter((id) => !onStream.has(id));
    return missing.length === 0;
  };
  // The relay may still be catching up after the last fault: poll with a deadline.
  await waitFor(compare, {
    timeoutMs,
    intervalMs: 500,
    description: 'every logged event on the events stream',
  }).catch(() => undefined);
  if (missing.length > 0)
    violations.push(
      `${missing.length} logged event(s) never reached the events stream (e.g. ${missing.slice(0, 3).join(', ')})`,
    );
  const notLogged = acked.filter((id) => !inLog.has(id));
  if (notLogged.length > 0)
    violations.push(
      `${notLogged.length} acknowledged event(s) missing from the log (e.g. ${notLogged.slice(0, 3).join(', ')})`,
    );
  let transportDuplicates = 0;
  for (const n of onStream.values()) transportDuplicates += n - 1;
  return { count: missing.length + notLogged.length, transportDuplicates, violations };
}

async function streamGaps(stack: KeelStack): Promise<string[]> {
  const { rows } = await stack.pool.query<{ stream_id: string }>(
    `SELECT stream_id FROM events GROUP BY stream_id
      HAVING min(stream_version) <> 1 OR max(stream_version) <> count(*)`,
  );
  return rows.map((r) => r.stream_id);
}

async function duplicateEffects(
  stack: KeelStack,
  effects: CheckInvariantsInput['effects'],
  expectedKeys: number | undefined,
): Promise<{ count: number; violations: string[] }> {
  const violations: string[] = [];
  let count = 0;
  if (effects) {
    const counts = effects.countsByKey();
    for (const [key, n] of counts) {
      if (n > 1) {
        count += n - 1;
        violations.push(`effect ${key} happened ${n} times`);
      } else if (n < 1) violations.push(`effect ${key} never happened`);
    }
    if (expectedKeys !== undefined && counts.size !== expectedKeys)
      violations.push(`receiver saw ${counts.size} effect key(s), expected ${expectedKeys}`);
  }
  // One outcome per tool call and per delivery; one request per run.
  const { rows } = await stack.pool.query<{ stream_id: string; n: number }>(
    `SELECT stream_id, count(*)::int AS n FROM events
      WHERE type IN ('ToolCallSucceeded', 'ToolCallFailed', 'ToolCallRejected')
         OR type IN ('DeliverySucceeded', 'DeliveryFailed')
         OR type = 'RunRequested'
      GROUP BY stream_id, CASE WHEN type LIKE 'ToolCall%' THEN 'tool'
                               WHEN type LIKE 'Delivery%' THEN 'delivery' ELSE 'run' END
      HAVING count(*) > 1`,
  );
  for (const r of rows) {
    count += r.n - 1;
    violations.push(`stream ${r.stream_id} recorded its outcome ${r.n} times`);
  }
  return { count, violations };
}

async function budgetsExceeded(stack: KeelStack): Promise<string[]> {
  const over: string[] = [];
  const reserved = await stack.pool.query<{ stream_id: string; id: string }>(
    `SELECT stream_id, data->>'reservationId' AS id FROM events
      WHERE type = 'BudgetReserved'
        AND ((data->>'limitTokens' IS NOT NULL
              AND (data->>'committedTokens')::bigint > (data->>'limitTokens')::bigint)
          OR (data->>'limitCostMicros' IS NOT NULL
              AND (data->>'committedCostMicros')::bigint > (data->>'limitCostMicros')::bigint))`,
  );
  for (const r of reserved.rows) over.push(`${r.stream_id} reservation ${r.id} over its limit`);
  // Settled tokens (last settlement per reservation) against the run's own limit.
  const settled = await stack.pool.query<{ run_id: string; tokens: string; max: string }>(
    `WITH last AS (
       SELECT DISTINCT ON (stream_id, data->>'reservationId') stream_id,
              (data->'usage'->>'inputTokens')::bigint + (data->'usage'->>'outputTokens')::bigint AS tokens
         FROM events WHERE type = 'BudgetSettled' AND stream_id NOT LIKE 'budget:tenant:%'
        ORDER BY stream_id, data->>'reservationId', stream_version DESC)
     SELECT substr(l.stream_id, 8) AS run_id, sum(l.tokens)::text AS tokens,
            (r.data->'limits'->>'maxTokens') AS max
       FROM last l JOIN events r ON r.stream_id = 'run:' || substr(l.stream_id, 8)
                                AND r.type = 'RunRequested'
      GROUP BY l.stream_id, r.data
     HAVING sum(l.tokens) > (r.data->'limits'->>'maxTokens')::bigint`,
  );
  for (const r of settled.rows)
    over.push(`run ${r.run_id} settled ${r.tokens} tokens, limit ${r.max}`);
  return over;
}

/** The durables the started services own; each must exist and drain. */
function requiredDurables(stack: KeelStack): { stream: string; durable: string }[] {
  const { names } = stack;
  const started = new Set([...stack.services.values()].map((h) => h.name.split(':')[0]));
  const has = (s: string) => [...started].some((n) => n?.startsWith(s));
  return [
    ...(has('planner')
      ? [
          { stream: names.streams.ingress, durable: names.consumers.plannerIngress },
          { stream: names.streams.events, durable: names.consumers.plannerToolResults },
        ]
      : []),
    ...(has('tool-executor')
      ? [{ stream: names.streams.events, durable: names.consumers.toolPool('default') }]
      : []),
    ...(has('outbox')
      ? [{ stream: names.streams.events, durable: names.consumers.outboxDeliveries }]
      : []),
    ...(has('budget-guard')
      ? [{ stream: names.streams.dlq, durable: names.consumers.dlqIngest }]
      : []),
  ];
}

async function stuck(stack: KeelStack, timeoutMs: number): Promise<string[]> {
  const { names, jsm } = stack;
  let problems: string[] = [];
  const look = async () => {
    problems = [];
    for (const { stream, durable } of requiredDurables(stack)) {
      const ok = await jsm.consumers.info(stream, durable).then(
        () => true,
        () => false,
      );
      if (!ok) problems.push(`${stream}/${durable} missing`);
    }
    for (const stream of Object.values(names.streams)) {
      const list = await jsm.consumers
        .list(stream)
        .next()
        .catch(() => []);
      for (const c of list) {
        if (!c.config.durable_name) continue; // ephemeral readers (tests, ordered consumers)
        if (c.num_pending > 0 || c.num_ack_pending > 0)
          problems.push(
            `${stream}/${c.name}: ${c.num_pending} pending, ${c.num_ack_pending} ack-pending`,
          );
      }
    }
    return problems.length === 0;
  };
  await waitFor(look, {
    timeoutMs,
    intervalMs: 500,
    description: 'every consumer to drain',
  }).catch(() => undefined);
  return problems;
}

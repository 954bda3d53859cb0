import { z } from 'zod';
import {
  BudgetEvents,
  CompensationEvents,
  DeliveryEvents,
  EventMetadata,
  RelayedEvent,
  ReserveBudgetReply,
  ReserveBudgetRequest,
  RunEvents,
  RunRequest,
  SettleBudgetReply,
  SettleBudgetRequest,
  ToolCallEvents,
} from './index';

/**
 * The services parse through zod's ahead-of-time compiled fast path (`import 'zod/compile'`
 * first in each main.ts; docs/performance.md). Zod falls back to its regular parser for a
 * schema it cannot compile — silently, so a contract change could quietly cost the hot path
 * its speed — and for any input the fast path rejects, so errors are the regular parser's.
 * These tests pin both: every contract on a hot path compiles, and the compiled parser
 * answers exactly as the regular one on valid input and on broken variants of it.
 */
const events = [
  ...RunEvents,
  ...ToolCallEvents,
  ...BudgetEvents,
  ...DeliveryEvents,
  ...CompensationEvents,
];
const messages: Record<string, z.ZodType> = {
  EventMetadata,
  RelayedEvent,
  RunRequest,
  ReserveBudgetRequest,
  ReserveBudgetReply,
  SettleBudgetRequest,
  SettleBudgetReply,
};

const runId = '0190f5a0-0000-7000-8000-000000000001';
const callId = '0190f5a0-0000-7000-8000-0000000000c1';
const input = { text: 'say "hi" to the café', n: 3 };
const decision = {
  kind: 'tool_calls',
  calls: [{ callId, tool: 'noop', input }],
  confidence: 0.9,
  reasoning: 'The noop tool answers this.',
};

/** Valid values as the services write and read them; each is also broken in many ways below. */
const samples: [string, z.ZodType, unknown][] = [
  [
    'ModelDecisionRecorded',
    dataOf('ModelDecisionRecorded'),
    {
      step: 3,
      attempt: 1,
      role: 'reasoning',
      provider: 'scripted',
      model: 'keel-scripted',
      promptVersion: 'planner-v3',
      toolVersions: { noop: '1' },
      decision,
      usage: { inputTokens: 812, outputTokens: 64 },
      latencyMs: 0.512,
    },
  ],
  [
    'ToolCallRequested',
    dataOf('ToolCallRequested'),
    { step: 3, callId, tool: 'noop', pool: 'default', input, idempotencyKey: `${runId}:3:0` },
  ],
  [
    'ToolResultRecorded',
    dataOf('ToolResultRecorded'),
    { step: 2, callId, tool: 'noop', outcome: { ok: true, output: { ok: true, echo: input } } },
  ],
  [
    'BudgetReserved',
    dataOf('BudgetReserved'),
    {
      runId,
      tenant: 'acme',
      scope: 'run',
      reservationId: `${runId}:3`,
      tokens: 2000,
      inputTokens: 1000,
      outputTokens: 1000,
      costMicros: 0,
      limitTokens: 100_000,
      limitCostMicros: null,
      committedTokens: 5000,
      committedCostMicros: 0,
      warning: false,
    },
  ],
  [
    'BudgetSettled',
    dataOf('BudgetSettled'),
    {
      runId,
      reservationId: `${runId}:2`,
      usage: { inputTokens: 812, outputTokens: 64 },
      costMicros: 0,
    },
  ],
  [
    'HumanReviewDecided (a refinement)',
    dataOf('HumanReviewDecided'),
    {
      step: 2,
      reviewId: 'r-1',
      reviewer: 'ops@acme',
      decision: 'modify',
      changes: { instruction: 'use the other tool' },
    },
  ],
  [
    'EventMetadata',
    EventMetadata,
    {
      eventId: '0190f5a0-0000-7000-8000-0000000000e1',
      correlationId: runId,
      causationId: 'req-1',
      tenant: 'acme',
      producer: 'planner',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
    },
  ],
  [
    'RunRequest (defaults)',
    RunRequest,
    { requestId: 'order-1', tenant: 'acme', input: { prompt: 'What is 6 * 7?' } },
  ],
];

function dataOf(type: string): z.ZodType {
  const def = events.find((e) => e.type === type);
  if (!def) throw new Error(`no event type ${type}`);
  return def.data as z.ZodType;
}

/** The value, then the value broken one way at a time: each key dropped, retyped, an extra key. */
function variants(value: unknown): unknown[] {
  const out: unknown[] = [value, null, undefined, 'text', 42, [value]];
  if (typeof value !== 'object' || value === null) return out;
  const record = value as Record<string, unknown>;
  out.push({ ...record, unexpected: true });
  for (const key of Object.keys(record)) {
    const { [key]: _dropped, ...rest } = record;
    out.push(rest);
    for (const wrong of [null, 'x', -1, 1.5, Number.NaN, 'x'.repeat(300_000), {}, [], true])
      out.push({ ...record, [key]: wrong });
    for (const nested of variants(record[key]).slice(6)) out.push({ ...record, [key]: nested });
  }
  return out;
}

describe('contracts on the compiled fast path', () => {
  it.each([...events.map((e) => [e.type, e.data] as const), ...Object.entries(messages)])(
    '%s compiles (no silent fall-back to the regular parser)',
    (_name, schema) => {
      expect(() => z.compile(schema as z.ZodType, { strict: true })).not.toThrow();
    },
  );

  it.each(samples)('%s: the compiled parser answers as the regular one', (_name, schema, value) => {
    const compiled = z.compile(schema, { strict: true });
    const cases = variants(value);
    expect(schema.safeParse(value).success).toBe(true);
    let rejected = 0;
    for (const v of cases) {
      const regular = schema.safeParse(v);
      const fast = compiled.safeParse(v);
      expect(fast.success).toBe(regular.success);
      if (regular.success) expect(fast.data).toEqual(regular.data);
      else {
        rejected += 1;
        expect(fast.error?.issues).toEqual(regular.error.issues);
      }
    }
    expect(rejected).toBeGreaterThan(cases.length / 2); // the variants do break the value
  });
});

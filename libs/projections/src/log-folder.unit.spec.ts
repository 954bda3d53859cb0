import { LogFolder } from './log-folder';
import { projectEvent, type ProjectableEvent, type RunSummary } from './run-summary';

const RUN = '0190a1b2-0000-7000-8000-000000000001';
const CALL = '0190a1b2-0000-7000-8000-0000000000c1';
const usage = (i: number, o: number) => ({ inputTokens: i, outputTokens: o });

/** A run that calls a tool, pays for two model calls and completes; its events over four streams. */
function sampleLog(): ProjectableEvent[] {
  const at = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
  let clock = 0;
  const ev = (streamId: string, streamVersion: number, e: { type: string; data: unknown }) =>
    ({
      ...e,
      streamId,
      streamVersion,
      metadata: { correlationId: RUN, tenant: 'acme' },
      recordedAt: at(clock++),
    }) as ProjectableEvent;
  const decision = (step: number, kind: 'tool' | 'final') => ({
    type: 'ModelDecisionRecorded',
    data: {
      step,
      attempt: 1,
      role: 'reasoning',
      provider: 'p',
      model: 'm',
      latencyMs: 5,
      promptVersion: 'v',
      toolVersions: {},
      usage: usage(100, 10),
      decision:
        kind === 'tool'
          ? {
              kind: 'tool_calls',
              calls: [{ callId: CALL, tool: 'calculator', input: {} }],
              confidence: 1,
              reasoning: '',
            }
          : { kind: 'final', answer: '42', confidence: 1, reasoning: '' },
    },
  });
  return [
    ev(`run:${RUN}`, 1, {
      type: 'RunRequested',
      data: {
        runId: RUN,
        tenant: 'acme',
        requestId: 'r1',
        input: { prompt: 'p' },
        capability: { tools: ['calculator'] },
        limits: { maxSteps: 5, maxToolCalls: 5, maxTokens: 1000, deadlineAt: at(999) },
      },
    }),
    ev(`budget:${RUN}`, 1, { type: 'BudgetSettled', data: settle(1, 700) }),
    ev(`budget:tenant:acme:2026-01-01`, 1, { type: 'BudgetSettled', data: settle(1, 700) }),
    ev(`run:${RUN}`, 2, decision(1, 'tool')),
    ev(`run:${RUN}`, 3, {
      type: 'ToolCallRequested',
      data: {
        step: 1,
        callId: CALL,
        tool: 'calculator',
        pool: 'default',
        input: {},
        idempotencyKey: 'k',
      },
    }),
    ev(`toolcall:${CALL}`, 1, {
      type: 'ToolCallSucceeded',
      data: {
        runId: RUN,
        callId: CALL,
        step: 1,
        tool: 'calculator',
        output: {},
        attempts: 1,
        durationMs: 3,
      },
    }),
    ev(`run:${RUN}`, 4, {
      type: 'ToolResultRecorded',
      data: { step: 1, callId: CALL, tool: 'calculator', outcome: { ok: true, output: {} } },
    }),
    ev(`run:${RUN}`, 5, decision(2, 'final')),
    ev(`run:${RUN}`, 6, {
      type: 'RunCompleted',
      data: { answer: '42', steps: 2, usage: usage(200, 20) },
    }),
    ev(`budget:${RUN}`, 2, { type: 'BudgetSettled', data: settle(2, 300) }),
  ];
  function settle(n: number, costMicros: number) {
    return { runId: RUN, reservationId: `res-${n}`, usage: usage(100, 10), costMicros };
  }
}

function fold(events: readonly ProjectableEvent[]): RunSummary[] {
  const f = new LogFolder();
  for (const e of events) f.add(e);
  expect(f.gaps()).toEqual([]);
  return f.summaries();
}

/** Deterministic shuffle (mulberry32), so a failure names its seed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let a = seed;
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('run summary projection', () => {
  it('folds a run into its summary: status, steps, calls, tokens, cost, result, times', () => {
    const [summary] = fold(sampleLog());
    expect(summary).toEqual({
      runId: RUN,
      tenant: 'acme',
      requestId: 'r1',
      status: 'completed',
      reviewStep: null,
      steps: 2,
      modelCalls: 2,
      toolCalls: 1,
      toolCallsFailed: 0,
      pendingToolCalls: 0,
      tokensIn: 200,
      tokensOut: 20,
      // The run's own ledger only: the tenant-day ledger is not the run's.
      costMicros: 1000,
      answer: '42',
      reasonCode: null,
      reasonMessage: null,
      labels: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      endedAt: '2026-01-01T00:00:08.000Z',
      updatedAt: '2026-01-01T00:00:09.000Z',
    });
  });

  it('gives the same summary for every interleaving of the streams, and ignores repeats', () => {
    const log = sampleLog();
    const expected = fold(log);
    for (let seed = 1; seed <= 200; seed++) {
      const events = shuffled([...log, ...log.slice(0, 4)], seed);
      expect({ seed, rows: fold(events) }).toEqual({ seed, rows: expected });
    }
  });

  it('applying out of version order directly would differ (why the folder orders streams)', () => {
    const log = sampleLog().filter((e) => e.streamId === `run:${RUN}`);
    const reversed = [...log].reverse().reduce<RunSummary | undefined>(projectEvent, undefined);
    expect(reversed?.status).not.toBe('completed');
  });
});

import { streamIds, toolCallIdFor, type RelayedEvent, type RunEvent } from '@keel/contracts';
import { RunProgress } from './run-progress';

const RUN = '0190f5a0-0000-7000-8000-000000000001';
const CALL = toolCallIdFor(RUN, 1, 0);
const usage = { inputTokens: 100, outputTokens: 20 };

const events: RunEvent[] = [
  {
    type: 'RunRequested',
    data: {
      runId: RUN,
      tenant: 'acme',
      requestId: 'r1',
      input: { prompt: 'What is 6 * 7?' },
      capability: { tools: ['calculator'] },
      limits: { maxSteps: 5, maxToolCalls: 5, maxTokens: 1000, deadlineAt: '2999-01-01T00:00:00Z' },
    },
  },
  {
    type: 'ModelDecisionRecorded',
    data: {
      step: 1,
      attempt: 1,
      role: 'reasoning',
      provider: 'openai',
      model: 'm',
      latencyMs: 1,
      promptVersion: 'p',
      toolVersions: {},
      usage,
      decision: {
        kind: 'tool_calls',
        calls: [{ callId: CALL, tool: 'calculator', input: { expression: '6 * 7' } }],
        confidence: 0.9,
        reasoning: 'r',
      },
    },
  },
  {
    type: 'ToolCallRequested',
    data: {
      step: 1,
      callId: CALL,
      tool: 'calculator',
      pool: 'default',
      input: { expression: '6 * 7' },
      idempotencyKey: `${RUN}:1:0`,
    },
  },
];

const relayed = (streamId: string, version: number, type: string, data: unknown): RelayedEvent => ({
  streamId,
  streamVersion: version,
  globalPosition: String(version),
  type,
  schemaVersion:
    type === 'BudgetSettled' || type === 'ModelDecisionRecorded' || type === 'RunRequested' ? 2 : 1,
  data,
  metadata: {
    eventId: '0190f5a0-0000-7000-8000-0000000000f' + version,
    correlationId: RUN,
    tenant: 'acme',
  },
  recordedAt: '2026-11-21T10:00:00Z',
});
const runEvent = (v: number) =>
  relayed(streamIds.run(RUN), v, events[v - 1]!.type, events[v - 1]!.data);

describe('RunProgress', () => {
  it('applies run events in stream-version order, whatever order they arrive in', () => {
    const p = new RunProgress(RUN);
    // The fast path's copy of event 3 overtakes the relay's copies of 1 and 2.
    expect(p.add(runEvent(3))).toEqual([]);
    expect(p.line()).toBe('waiting for the planner');
    expect(p.add(runEvent(1)).map((e) => e.version)).toEqual([1]);
    expect(p.add(runEvent(2)).map((e) => [e.version, e.event.type])).toEqual([
      [2, 'ModelDecisionRecorded'],
      [3, 'ToolCallRequested'],
    ]);
    expect(p.add(runEvent(2))).toEqual([]); // a repeat changes nothing
    expect(p.state.status).toBe('awaiting_tools');
    expect(p.line()).toMatch(/^awaiting_tools +step 1\/5 {2}tokens 120\/1000 {2}cost \$0\.000000$/);
  });

  it('adds the cost the budget guard settled for the run', () => {
    const p = new RunProgress(RUN);
    p.add(runEvent(1));
    p.add(
      relayed(streamIds.budget(RUN), 1, 'BudgetSettled', {
        runId: RUN,
        reservationId: `${RUN}:1`,
        usage,
        costMicros: 1500,
      }),
    );
    expect(p.costMicros).toBe(1500);
    expect(p.line()).toContain('cost $0.001500');
  });
});

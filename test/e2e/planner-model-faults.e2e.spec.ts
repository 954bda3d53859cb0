import {
  calculatorScript,
  finalReply,
  startScriptedModel,
  toolCallsReply,
  type ScriptedModel,
} from '@keel/testing';
import {
  requestsOf,
  Scenarios,
  submitRun,
  textOf,
  typesOf,
  waitForEvent,
  type StoredEvent,
} from '../support/scenarios';
import { startStack, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * The planner against a misbehaving model provider: a real HTTP server that
 * answers 429/5xx/529, hangs, drops connections, sends non-JSON or
 * schema-violating output, or never stops calling tools. Each test asserts the
 * events recorded, the attempts the server saw and their spacing, and the
 * final state.
 */
describe('planner: model faults', () => {
  const scenarios = new Scenarios();
  const calc = calculatorScript('6 * 7', 'It is ');
  let model: ScriptedModel;
  let stack: KeelStack;

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      env: {
        KEEL_MODEL_TIMEOUT_MS: '1000',
        KEEL_MODEL_RETRY_BASE_MS: '100',
        KEEL_MODEL_RETRY_CAP_MS: '400',
        KEEL_MODEL_MAX_ATTEMPTS: '8',
        KEEL_MODEL_BREAKER_FAILURES: '3',
        KEEL_MODEL_BREAKER_COOLDOWN_MS: '1500',
        KEEL_MODEL_CONTEXT_TOKENS: '8000',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  const failures = (events: StoredEvent[]) =>
    events.filter((e) => e.type === 'ModelCallFailed').map((e) => e.data);
  const answerOf = (events: StoredEvent[]) =>
    events.find((e) => e.type === 'RunCompleted')?.data.answer;

  it('429 with Retry-After: the retry waits as asked, both attempts are events, the run completes', async () => {
    const name = scenarios.add('rate-limited', (req, i) =>
      i === 0 ? { fault: 'status', status: 429, retryAfterSeconds: 1 } : calc(req, i - 1),
    );
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(answerOf(events)).toBe('It is 42');
    expect(failures(events)).toEqual([
      expect.objectContaining({
        step: 1,
        attempt: 1,
        code: 'MODEL_HTTP_429',
        errorClass: 'transient',
        retryAfterMs: 1000,
        retryInMs: 1000,
      }),
    ]);
    const decision = events.find((e) => e.type === 'ModelDecisionRecorded')!.data;
    expect(decision).toMatchObject({ step: 1, attempt: 2, provider: 'default' });
    const reqs = requestsOf(model, name);
    expect(reqs).toHaveLength(3); // 429, then two decisions
    const gap = reqs[1]!.receivedAt.getTime() - reqs[0]!.receivedAt.getTime();
    expect(gap).toBeGreaterThanOrEqual(950);
    // The step's idempotency key is the logical step, the same on the retry.
    expect(reqs[1]!.headers['idempotency-key']).toBe(reqs[0]!.headers['idempotency-key']);
  });

  it('500 then 529: retried with capped, jittered backoff; the run completes', async () => {
    const name = scenarios.add('server-errors', (req, i) =>
      i === 0
        ? { fault: 'status', status: 500 }
        : i === 1
          ? { fault: 'status', status: 529 }
          : calc(req, i - 2),
    );
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(answerOf(events)).toBe('It is 42');
    const f = failures(events);
    expect(f.map((x) => x.code)).toEqual(['MODEL_HTTP_500', 'MODEL_OVERLOADED']);
    // Full jitter: attempt n waits within [0, min(cap, base * 2^(n-1))].
    expect(f[0]!.retryInMs).toBeLessThanOrEqual(100);
    expect(f[1]!.retryInMs).toBeLessThanOrEqual(200);
  });

  it('a hang past the timeout and a dropped connection are transient: retried, then completed', async () => {
    const name = scenarios.add('hang-drop', (req, i) =>
      i === 0 ? { fault: 'hang' } : i === 1 ? { fault: 'drop' } : calc(req, i - 2),
    );
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(answerOf(events)).toBe('It is 42');
    expect(failures(events).map((x) => x.code)).toEqual(['MODEL_TIMEOUT', 'MODEL_CONNECTION']);
    expect(failures(events)[0]!.latencyMs).toBeGreaterThanOrEqual(900);
  });

  it('a permanent error (400) is not retried: one attempt, the run fails with the code', async () => {
    const name = scenarios.add('bad-request', () => ({ fault: 'status', status: 400 }));
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(typesOf(events)).toEqual(['RunRequested', 'ModelCallFailed', 'RunFailed']);
    expect(events[2]!.data.error).toMatchObject({ code: 'MODEL_HTTP_400' });
    expect(failures(events)[0]).toMatchObject({ errorClass: 'permanent', retryInMs: null });
    expect(requestsOf(model, name)).toHaveLength(1);
  });

  it('quota exhausted: the run stops with MODEL_QUOTA and the planner raises an alert', async () => {
    const name = scenarios.add('quota', () => ({
      fault: 'status',
      status: 429,
      body: {
        error: {
          message: 'You exceeded your current quota',
          type: 'insufficient_quota',
          code: 'insufficient_quota',
        },
      },
    }));
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(events.at(-1)).toMatchObject({
      type: 'RunFailed',
      data: { error: { code: 'MODEL_QUOTA' } },
    });
    expect(requestsOf(model, name)).toHaveLength(1);
    await stack.services.get('planner')!.waitForLog(/"alert":true.*quota/, 5_000);
  });

  it('after 3 failures the breaker opens: calls stop until a half-open probe succeeds', async () => {
    const name = scenarios.add('breaker', (req, i) =>
      i < 3 ? { fault: 'status', status: 503 } : calc(req, i - 3),
    );
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(answerOf(events)).toBe('It is 42');
    const codes = failures(events).map((x) => x.code);
    expect(codes.slice(0, 3)).toEqual(['MODEL_HTTP_503', 'MODEL_HTTP_503', 'MODEL_HTTP_503']);
    // While open, attempts are recorded without reaching the provider.
    expect(codes.slice(3).length).toBeGreaterThanOrEqual(1);
    expect(new Set(codes.slice(3))).toEqual(new Set(['MODEL_BREAKER_OPEN']));
    expect(requestsOf(model, name)).toHaveLength(5); // 3 failures, the probe, the final answer
    const planner = stack.services.get('planner')!;
    await planner.waitForLog(/"from":"closed","to":"open".*breaker transition/, 5_000);
    await planner.waitForLog(/"from":"open","to":"half_open".*breaker transition/, 5_000);
    await planner.waitForLog(/"from":"half_open","to":"closed".*breaker transition/, 5_000);
  });

  it('non-JSON prose is rejected with its issues and re-prompted; the valid reply then counts', async () => {
    const name = scenarios.add('prose', (req, i) =>
      i === 0 ? { content: 'Sure! Let me think about that.' } : calc(req, i - 1),
    );
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(answerOf(events)).toBe('It is 42');
    const rejected = events.find((e) => e.type === 'ModelOutputRejected')!.data;
    expect(rejected).toMatchObject({
      step: 1,
      attempt: 1,
      output: 'Sure! Let me think about that.',
    });
    expect((rejected.issues as string[])[0]).toMatch(/not a JSON object/);
    const reprompt = requestsOf(model, name)[1]!;
    const last = reprompt.body.messages.at(-1)!;
    expect(last.role).toBe('user');
    expect(textOf(last)).toContain('Your reply was not valid');
    expect(textOf(last)).toContain('not a JSON object');
  });

  it('a malformed (non-JSON) HTTP body is a transient failure, retried', async () => {
    const name = scenarios.add('malformed', (req, i) =>
      i === 0 ? { fault: 'malformed' } : calc(req, i - 1),
    );
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(answerOf(events)).toBe('It is 42');
    expect(failures(events)).toHaveLength(1);
    expect(failures(events)[0]).toMatchObject({ errorClass: 'transient' });
  });

  it('output that keeps violating the schema fails the step and escalates to a person', async () => {
    const name = scenarios.add('schema-violation', () => ({
      content: JSON.stringify({ action: 'final', answer: 42, confidence: 'high' }),
    }));
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId, 'HumanReviewRequested');
    expect(typesOf(events)).toEqual([
      'RunRequested',
      'ModelOutputRejected',
      'ModelOutputRejected',
      'ModelOutputRejected',
      'HumanReviewRequested',
    ]);
    const review = events.at(-1)!.data;
    expect(review).toMatchObject({ step: 1, reason: 'structured_output_invalid', proposal: null });
    expect(String(review.detail)).toMatch(/STRUCTURED_OUTPUT_INVALID|failed validation 3 times/);
    expect(String(review.detail)).toMatch(/answer/);
    expect(requestsOf(model, name)).toHaveLength(3);
  });

  it('a tool-call loop that never ends stops at the step ceiling with a degraded result', async () => {
    let n = 0;
    const name = scenarios.add('loop', () =>
      toolCallsReply([{ name: 'calculator', arguments: { expression: `${++n} + 1` } }]),
    );
    const { runId } = await submitRun(stack, name, { limits: { maxSteps: 4 } });
    const events = await waitForEvent(stack.pool, runId);
    const end = events.at(-1)!;
    expect(end.type).toBe('RunDegraded');
    expect(end.data.reason).toMatchObject({ code: 'STEP_LIMIT' });
    expect(String(end.data.answer)).toContain('Tool results so far');
    expect(typesOf(events)).toContain('SynthesisStarted');
    expect(events.filter((e) => e.type === 'ToolCallRequested')).toHaveLength(3);
    // The synthesis call offered no tools.
    const reqs = requestsOf(model, name);
    expect(reqs[3]!.body.tools ?? []).toEqual([]);
  });

  it('parallel tool calls are requested at once, joined, and the model sees every outcome', async () => {
    const name = scenarios.add('parallel', (req, i) =>
      i === 0
        ? toolCallsReply([
            { name: 'calculator', arguments: { expression: '1 + 1' } },
            { name: 'calculator', arguments: { expression: '2 * 3' } },
            { name: 'calculator', arguments: { expression: '1 / 0' } },
          ])
        : finalReply('joined'),
    );
    const { runId } = await submitRun(stack, name);
    const events = await waitForEvent(stack.pool, runId);
    expect(answerOf(events)).toBe('joined');
    const requested = events.filter((e) => e.type === 'ToolCallRequested');
    expect(requested.map((e) => e.data.step)).toEqual([1, 1, 1]);
    expect(events.filter((e) => e.type === 'ToolResultRecorded')).toHaveLength(3);
    const second = requestsOf(model, name)[1]!;
    const toolMessages = second.body.messages.filter((m) => m.role === 'tool');
    expect(toolMessages.map((m) => m.tool_call_id).sort()).toEqual(
      requested.map((e) => String(e.data.callId)).sort(),
    );
    expect(toolMessages.map(textOf).join(' ')).toMatch(/"value":2[\s\S]*"value":6/);
  });

  it('a 40,000-token input is trimmed to the context window and the run completes', async () => {
    const name = scenarios.add('huge-input', calc);
    const filler = 'lorem ipsum dolor sit amet '.repeat(6000); // ~162,000 chars ≈ 40,500 tokens
    const { runId } = await submitRun(stack, name, { prompt: `${filler}\nWhat is 6 * 7?` });
    const events = await waitForEvent(stack.pool, runId);
    expect(answerOf(events)).toBe('It is 42');
    for (const r of requestsOf(model, name)) {
      const chars = r.body.messages.reduce((n, m) => n + textOf(m).length, 0);
      expect(chars / 4).toBeLessThanOrEqual(8000);
      // Head and tail of the task survive the cut.
      const user = textOf(r.body.messages.find((m) => m.role === 'user'));
      expect(user.startsWith(`scenario:${name}`)).toBe(true);
      expect(user.endsWith('What is 6 * 7?')).toBe(true);
    }
  });
  // Last: it leaves a second planner replica running.
  it('with a second planner replica, every run completes and every step is recorded once', async () => {
    // Deliveries of one run alternate between replicas, so each replica's cached view
    // of a run is often behind the stream: the expected-version checks must catch that.
    await stack.start('planner', 'planner-2');
    const name = scenarios.add('two-planners', (req) => {
      const rounds = req.messages.filter((m) => m.role === 'tool').length;
      return rounds < 4
        ? toolCallsReply([{ name: 'calculator', arguments: { expression: `${rounds} + 1` } }])
        : finalReply('four rounds');
    });
    const runs = await Promise.all(Array.from({ length: 30 }, () => submitRun(stack, name)));
    for (const { runId } of runs) {
      const events = await waitForEvent(stack.pool, runId);
      expect(typesOf(events)).toEqual([
        'RunRequested',
        ...Array.from({ length: 4 }, () => [
          'ModelDecisionRecorded',
          'ToolCallRequested',
          'ToolResultRecorded',
        ]).flat(),
        'ModelDecisionRecorded',
        'RunCompleted',
      ]);
    }
  });
});

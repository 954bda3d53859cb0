import { randomUUID } from 'node:crypto';
import { streamIds, type RelayedEvent, type RunEvent } from '@keel/contracts';
import { readStream } from '@keel/event-store';
import {
  checkRun,
  nextAction,
  PLANNER_DECIDERS,
  type RecordedRunEvent,
  type ReplayPolicy,
} from '@keel/run-domain';
import {
  calculatorScript,
  startScriptedModel,
  toolCallsReply,
  type ScriptedModel,
} from '@keel/testing';
import { runCli, type CliResult } from '../support/run-cli';
import { command, Scenarios, submitRun, typesOf, waitForEvent } from '../support/scenarios';
import { startStack, type KeelStack } from '../support/stack';

jest.setTimeout(180_000);

/**
 * `keel run`, `keel replay` and `keel trace` as an operator uses them: the
 * built binary against real runs of the whole stack (tool calls, a review
 * gate, a degraded ending) driven by the scripted model. `replay --check`
 * re-derives every planner decision from the recording; a deliberately changed
 * rule, injected through the pure API, is caught at the right event.
 */
describe('keel run / replay / trace on real runs', () => {
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let stack: KeelStack;
  const review = { KEEL_ENV: 'production', KEEL_REVIEW_MIN_CONFIDENCE: '0.7' };
  /** The policy the planner runs with (what `--check` reads from the same env). */
  const policy: ReplayPolicy = {
    review: { enabled: true, minConfidence: 0.7, highStakesTools: [] },
    maxInvalidOutputs: 3,
    invalidOutputEscalation: 'review',
  };

  beforeAll(async () => {
    scenarios.add('calc', calculatorScript('6 * 7', 'It is '));
    scenarios.add('limited', calculatorScript('6 * 7', 'About '));
    scenarios.add('unsure', (req, i) =>
      i === 0
        ? toolCallsReply([{ name: 'calculator', arguments: { expression: '6 * 7' } }], {
            confidence: 0.4,
          })
        : calculatorScript('6 * 7', 'Surely ')(req, i),
    );
    model = await startScriptedModel(scenarios.script);
    stack = await startStack({ modelBaseUrl: model.baseUrl, env: review });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  const keel = (...args: string[]): Promise<CliResult> => runCli(args, stack.env);
  const recorded = async (runId: string): Promise<RecordedRunEvent[]> =>
    (await readStream(stack.pool, streamIds.run(runId))).map((e) => ({
      version: e.streamVersion,
      event: { type: e.type, data: e.data } as RunEvent,
    }));
  const runIdIn = (out: string) => /▶ run ([0-9a-f-]{36})/.exec(out)?.[1];
  const runs: Record<string, string> = {};

  it('keel run publishes a validated request and follows it to its answer (exit 0)', async () => {
    const r = await keel(
      'run',
      '--goal',
      'scenario:calc\nWhat is 6 * 7?',
      '--tenant',
      'acme',
      '--tools',
      'calculator',
      '--max-steps',
      '5',
      '--timeout',
      '90',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const runId = runIdIn(r.stdout)!;
    expect(runId).toBeDefined();
    runs.calc = runId;
    const lines = r.stdout.split('\n');
    // One progress line per run event, in stream order, with state, step, tokens and cost.
    expect(lines.filter((l) => /^ {2}#\d/.test(l)).map((l) => l.split(/\s+/)[2])).toEqual(
      typesOf(await waitForEvent(stack.pool, runId)),
    );
    expect(r.stdout).toMatch(/#1 +RunRequested +requested +step 0\/5 +tokens 0\/\d+ +cost \$/);
    expect(r.stdout).toMatch(/#3 +ToolCallRequested +awaiting_tools +step 1\/5/);
    expect(r.stdout).toContain('✔ completed: It is 42');
  });

  it('keel run --json prints the events as JSON lines; a degraded ending exits 3', async () => {
    const r = await keel(
      'run',
      '--goal',
      'scenario:limited\nWhat is 6 * 7?',
      '--tenant',
      'acme',
      '--tools',
      'calculator',
      '--max-steps',
      '2',
      '--json',
      '--timeout',
      '90',
    );
    expect(r.code).toBe(3);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RelayedEvent);
    const runId = events[0]!.metadata.correlationId;
    runs.limited = runId;
    // In stream order, not log order (fast-path copies can overtake the relay): sort by version.
    const runStream = events
      .filter((e) => e.streamId === streamIds.run(runId))
      .sort((x, y) => x.streamVersion - y.streamVersion);
    // The last step is a synthesis (no tools); the script keeps asking for a tool, so its
    // replies are rejected until the run ends with what it has.
    expect(runStream.map((e) => e.type)).toEqual([
      'RunRequested',
      'ModelDecisionRecorded',
      'ToolCallRequested',
      'ToolResultRecorded',
      'SynthesisStarted',
      'ModelOutputRejected',
      'ModelOutputRejected',
      'ModelOutputRejected',
      'RunDegraded',
    ]);
    expect(runStream.map((e) => e.streamVersion)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(runStream.at(-1)!.data).toMatchObject({ reason: { code: 'STEP_LIMIT' } });
    // Other streams of the run come through too (the tool call's, the budget's).
    expect(events.some((e) => e.streamId.startsWith('toolcall:'))).toBe(true);
  });

  it('keel run refuses an invalid request before publishing it (exit 2)', async () => {
    const r = await keel('run', '--goal', 'x', '--tenant', 'Not A Tenant', '--max-steps', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('keel run: invalid run request: tenant:');
    expect(r.stderr).toContain('limits.maxSteps');
    const { rows } = await stack.pool.query(
      `SELECT 1 FROM events WHERE type = 'RunRequested' AND data->>'tenant' = 'Not A Tenant'`,
    );
    expect(rows).toHaveLength(0);
  });

  it('a reviewed run: the gate pauses it, approval finishes it', async () => {
    const run = await submitRun(stack, 'unsure');
    runs.unsure = run.runId;
    await waitForEvent(stack.pool, run.runId, 'HumanReviewRequested');
    await expect(
      command(stack, 'review', {
        runId: run.runId,
        tenant: 'acme',
        step: 1,
        reviewId: 'approve-1',
        reviewer: 'ops@acme.test',
        decision: 'approve',
      }),
    ).resolves.toMatchObject({ status: 'accepted' });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(typesOf(events)).toEqual([
      'RunRequested',
      'ModelDecisionRecorded',
      'HumanReviewRequested',
      'HumanReviewDecided',
      'ToolCallRequested',
      'ToolResultRecorded',
      'ModelDecisionRecorded',
      'RunCompleted',
    ]);
  });

  it('keel replay --check re-derives every decision of each run: no divergence (exit 0)', async () => {
    for (const name of ['calc', 'limited', 'unsure']) {
      const runId = runs[name]!;
      const r = await runCli(['replay', runId, '--check'], { ...stack.env, ...review });
      expect({ name, code: r.code, stderr: r.stderr }).toEqual({ name, code: 0, stderr: '' });
      const n = (await recorded(runId)).length;
      expect(r.stdout).toMatch(
        new RegExp(`^✔ \\d+ decisions re-derived, no divergence \\(${n} events of run ${runId}\\)`),
      );
      const json = await runCli(['replay', runId, '--check', '--json'], {
        ...stack.env,
        ...review,
      });
      expect(JSON.parse(json.stdout)).toMatchObject({ runId, events: n, checkedEvents: n });
    }
  });

  it('a changed decision rule is caught at the event where it decides differently', async () => {
    const unsure = await recorded(runs.unsure!);
    const limited = await recorded(runs.limited!);
    expect(checkRun(unsure, policy).divergence).toBeUndefined();
    expect(checkRun(limited, policy).divergence).toBeUndefined();

    // Rule change 1: no step-limit synthesis (the last step may call tools again).
    const noStepLimitSynthesis = {
      ...PLANNER_DECIDERS,
      nextAction: (state: Parameters<typeof nextAction>[0], now: Date) => {
        const a = nextAction(state, now);
        return a.kind === 'record' && a.events[0]?.type === 'SynthesisStarted'
          ? { kind: 'call_model' as const, step: a.events[0].data.step, synthesis: false }
          : a;
      },
    };
    const synthesisAt = limited.find((e) => e.event.type === 'SynthesisStarted')!.version;
    expect(synthesisAt).toBe(5);
    expect(checkRun(limited, policy, noStepLimitSynthesis).divergence).toMatchObject({
      eventNumber: 5,
      expected: null,
      recorded: { type: 'SynthesisStarted', data: { reason: 'step_limit' } },
      why: "today's code calls the model for step 2 here, not SynthesisStarted",
    });

    // Rule change 2: low confidence no longer gates (the gate's threshold lowered in code).
    const lowerGate = {
      ...PLANNER_DECIDERS,
      modelDecision: (...[state, cmd]: Parameters<typeof PLANNER_DECIDERS.modelDecision>) =>
        PLANNER_DECIDERS.modelDecision(state, {
          ...cmd,
          review: { ...cmd.review, minConfidence: 0.3 },
        }),
    };
    expect(checkRun(unsure, policy, lowerGate).divergence).toMatchObject({
      eventNumber: 3,
      expected: { type: 'ToolCallRequested', data: { tool: 'calculator' } },
      recorded: { type: 'HumanReviewRequested', data: { reason: 'low_confidence' } },
    });
  });

  it('keel replay --check exits 1 naming the event when the planner config differs', async () => {
    const r = await runCli(['replay', runs.unsure!, '--check'], {
      ...stack.env,
      ...review,
      KEEL_REVIEW_ENABLED: 'false',
    });
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')[0]).toBe(
      "✘ diverged at event 3: today's code records ToolCallRequested where HumanReviewRequested was recorded",
    );
    expect(r.stdout).toContain(
      '  recorded: HumanReviewRequested {"step":1,"reason":"low_confidence"',
    );
    expect(r.stdout).toContain('  expected: ToolCallRequested {"step":1');
  });

  it('keel replay prints the rebuilt state, the state after event n, and each event’s changes', async () => {
    const runId = runs.calc!;
    const whole = await keel('replay', runId);
    expect(whole.code).toBe(0);
    expect(whole.stdout).toContain(`run ${runId}: state after event 6 of 6 (RunCompleted)`);
    expect(whole.stdout).toMatch(/^ {2}status +completed$/m);
    expect(whole.stdout).toMatch(/^ {2}answer +It is 42$/m);
    expect(whole.stdout).toMatch(
      /^ {4}step 1 decision by .*: call calculator \{"expression":"6 \* 7"\}/m,
    );

    const at3 = await keel('replay', runId, '--to', '3');
    expect(at3.code).toBe(0);
    expect(at3.stdout).toContain('state after event 3 of 6 (ToolCallRequested)');
    expect(at3.stdout).toMatch(/^ {2}status +awaiting_tools$/m);
    expect(at3.stdout).toMatch(/^ {2}pending +calculator \(/m);

    const json = await keel('replay', runId, '--to', '2', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({
      runId,
      events: 6,
      at: 2,
      state: { status: 'requested', step: 1, toolCalls: 0 },
    });

    const diff = await keel('replay', runId, '--diff', '--to', '4');
    expect(diff.code).toBe(0);
    const lines = diff.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('#'))).toEqual([
      '#1 RunRequested',
      '#2 ModelDecisionRecorded',
      '#3 ToolCallRequested',
      '#4 ToolResultRecorded',
    ]);
    const after3 = lines.slice(
      lines.indexOf('#3 ToolCallRequested') + 1,
      lines.indexOf('#4 ToolResultRecorded'),
    );
    expect(after3[0]).toBe('  status: "requested" → "awaiting_tools"');
    expect(after3[1]).toBe('  toolCalls: 0 → 1');
    expect(lines).toContain('  status: "awaiting_tools" → "planning"');

    const out = await keel('replay', runId, '--to', '7');
    expect(out.code).toBe(1);
    expect(out.stderr.trim()).toBe(
      'keel replay: event 7 is out of range: the run has 6 events (1..6)',
    );

    const unknown = randomUUID();
    const missing = await keel('replay', unknown);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`keel replay: run ${unknown} not found\n`);
  });

  it('keel trace prints the run’s Jaeger link; an unknown run is one clear line', async () => {
    const runId = runs.calc!;
    const { rows } = await stack.pool.query<{ traceparent: string }>(
      `SELECT metadata->>'traceparent' AS traceparent FROM events WHERE stream_id = $1 AND stream_version = 1`,
      [streamIds.run(runId)],
    );
    const traceId = rows[0]!.traceparent.split('-')[1]!;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const env = { ...stack.env, KEEL_JAEGER_UI_URL: 'http://jaeger.test:16686/' };
    const r = await runCli(['trace', runId], env);
    expect(r).toMatchObject({ code: 0, stdout: `http://jaeger.test:16686/trace/${traceId}\n` });
    const json = await runCli(['trace', runId, '--json'], env);
    expect(JSON.parse(json.stdout)).toEqual({
      runId,
      traceId,
      url: `http://jaeger.test:16686/trace/${traceId}`,
    });
    const byDefault = await keel('trace', runId);
    expect(byDefault.stdout).toBe(`http://localhost:16686/trace/${traceId}\n`);

    const unknown = randomUUID();
    const missing = await keel('trace', unknown);
    expect(missing).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `keel trace: run ${unknown} not found\n`,
    });
  });
});

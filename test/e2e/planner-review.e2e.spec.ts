import {
  askHumanReply,
  calculatorScript,
  finalReply,
  startScriptedModel,
  toolCallsReply,
  waitFor,
  type ScriptedModel,
} from '@keel/testing';
import {
  command,
  requestsOf,
  Scenarios,
  submitRun,
  typesOf,
  waitForEvent,
  type SubmittedRun,
} from '../support/scenarios';
import { deadLettersOf, startStack, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * Confidence gates and human checkpoints, run cancellation and deadlines:
 * a paused run waits in `awaiting_human`; a decision arrives as a NATS
 * command; work already done is never repeated; decisions for runs that are
 * not waiting are refused with a clear code.
 */
describe('planner: human checkpoints, cancel and deadlines', () => {
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let stack: KeelStack;

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      env: {
        KEEL_ENV: 'production',
        KEEL_REVIEW_MIN_CONFIDENCE: '0.7',
        KEEL_REVIEW_TOOLS: 'noop',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  const review = (run: SubmittedRun, step: number, decision: Record<string, unknown>) =>
    command(stack, 'review', {
      runId: run.runId,
      tenant: run.request.tenant,
      step,
      reviewId: `rev-${Math.random().toString(36).slice(2)}`,
      reviewer: 'ops@acme.test',
      ...decision,
    });

  /** A calculator run whose first decision is not confident enough. */
  const unsure = (name: string) =>
    scenarios.add(name, (req, i) =>
      i === 0
        ? toolCallsReply([{ name: 'calculator', arguments: { expression: '6 * 7' } }], {
            confidence: 0.4,
          })
        : calculatorScript('6 * 7', 'It is ')(req, i),
    );

  it('low confidence pauses the run; approve runs the proposed calls once and the run completes', async () => {
    const name = unsure('low-confidence');
    const run = await submitRun(stack, name);
    const paused = await waitForEvent(stack.pool, run.runId, 'HumanReviewRequested');
    expect(typesOf(paused)).toEqual([
      'RunRequested',
      'ModelDecisionRecorded',
      'HumanReviewRequested',
    ]);
    expect(paused[2]!.data).toMatchObject({
      step: 1,
      reason: 'low_confidence',
      threshold: 0.7,
      proposal: { kind: 'tool_calls', confidence: 0.4 },
    });

    // A decision for another step, or from another tenant, is refused.
    await expect(review(run, 2, { decision: 'approve' })).resolves.toMatchObject({
      status: 'refused',
      code: 'NOT_AWAITING_REVIEW',
    });
    await expect(
      command(stack, 'review', {
        runId: run.runId,
        tenant: 'other-tenant',
        step: 1,
        reviewId: 'x',
        reviewer: 'mallory',
        decision: 'approve',
      }),
    ).resolves.toMatchObject({ status: 'refused', code: 'NOT_FOUND' });

    const reviewId = 'approve-1';
    const approve = {
      runId: run.runId,
      tenant: 'acme',
      step: 1,
      reviewId,
      reviewer: 'ops@acme.test',
      decision: 'approve',
    };
    await expect(command(stack, 'review', approve)).resolves.toMatchObject({
      status: 'accepted',
      runStatus: 'awaiting_tools',
      duplicate: false,
    });
    // The same command again (a client retry) is recognised, not applied twice.
    await expect(command(stack, 'review', approve)).resolves.toMatchObject({
      status: 'accepted',
      duplicate: true,
    });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)).toMatchObject({ type: 'RunCompleted', data: { answer: 'It is 42' } });
    expect(events.filter((e) => e.type === 'ToolCallRequested')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'HumanReviewDecided')).toHaveLength(1);
    // The model was not asked again for the reviewed step.
    expect(requestsOf(model, name)).toHaveLength(2);

    // The run is no longer waiting: a new decision is refused clearly.
    await expect(review(run, 1, { decision: 'approve' })).resolves.toMatchObject({
      status: 'refused',
      code: 'RUN_FINISHED',
    });
  });

  it('reject fails the run with the reviewer’s reason', async () => {
    const run = await submitRun(stack, unsure('reject'));
    await waitForEvent(stack.pool, run.runId, 'HumanReviewRequested');
    await expect(
      review(run, 1, { decision: 'reject', reason: 'wrong approach' }),
    ).resolves.toMatchObject({ status: 'accepted', runStatus: 'failed' });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)!.data.error).toMatchObject({
      code: 'REVIEW_REJECTED',
      message: 'rejected by ops@acme.test: wrong approach',
    });
  });

  it('modify with changed input runs the call with the reviewer’s input', async () => {
    const run = await submitRun(stack, unsure('modify-input'));
    const paused = await waitForEvent(stack.pool, run.runId, 'HumanReviewRequested');
    const callId = (paused[2]!.data.proposal as { calls: { callId: string }[] }).calls[0]!.callId;
    await expect(
      review(run, 1, {
        decision: 'modify',
        changes: { inputs: { [callId]: { expression: '6 * 8' } } },
      }),
    ).resolves.toMatchObject({ status: 'accepted' });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.find((e) => e.type === 'ToolCallRequested')!.data.input).toEqual({
      expression: '6 * 8',
    });
    expect(events.at(-1)).toMatchObject({ type: 'RunCompleted', data: { answer: 'It is 48' } });
  });

  it('modify with an instruction re-plans: the model sees the instruction', async () => {
    const name = scenarios.add('ask-human', (req, i) =>
      i === 0 ? askHumanReply('Metric or imperial units?') : finalReply(`ok: ${lastUser(req)}`),
    );
    const run = await submitRun(stack, name);
    const paused = await waitForEvent(stack.pool, run.runId, 'HumanReviewRequested');
    expect(paused.at(-1)!.data).toMatchObject({
      reason: 'model_asked',
      detail: 'Metric or imperial units?',
    });
    // Approving a question makes no sense: it is refused with what to do instead.
    await expect(review(run, 1, { decision: 'approve' })).resolves.toMatchObject({
      status: 'refused',
      code: 'INVALID_DECISION',
    });
    await expect(
      review(run, 1, { decision: 'modify', changes: { instruction: 'Metric, please.' } }),
    ).resolves.toMatchObject({ status: 'accepted', runStatus: 'planning' });
    // The planner's wake-up consumer picks the run up from the relayed event.
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)!.type).toBe('RunCompleted');
    expect(String(events.at(-1)!.data.answer)).toContain('Metric, please.');
  });

  it('a high-stakes tool always needs approval, whatever the confidence', async () => {
    const name = scenarios.add('high-stakes', (req, i) =>
      i === 0
        ? toolCallsReply([{ name: 'noop', arguments: { note: 'x' } }], { confidence: 0.99 })
        : finalReply('done'),
    );
    const run = await submitRun(stack, name, { tools: ['noop'] });
    const paused = await waitForEvent(stack.pool, run.runId, 'HumanReviewRequested');
    expect(paused.at(-1)!.data).toMatchObject({ reason: 'high_stakes_tool' });
    expect(typesOf(paused)).not.toContain('ToolCallRequested');
  });

  it('cancel ends a paused run; a later decision is refused', async () => {
    const run = await submitRun(stack, unsure('cancel'));
    await waitForEvent(stack.pool, run.runId, 'HumanReviewRequested');
    const cancel = {
      runId: run.runId,
      tenant: 'acme',
      reason: 'customer withdrew',
      requestedBy: 'ops',
    };
    await expect(command(stack, 'cancel', cancel)).resolves.toMatchObject({
      status: 'accepted',
      runStatus: 'cancelled',
    });
    await expect(command(stack, 'cancel', cancel)).resolves.toMatchObject({ duplicate: true });
    await expect(review(run, 1, { decision: 'approve' })).resolves.toMatchObject({
      status: 'refused',
      code: 'RUN_FINISHED',
    });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)).toMatchObject({
      type: 'RunCancelled',
      data: { reason: 'customer withdrew' },
    });
  });

  it('a bad command gets BAD_REQUEST with the zod issues', async () => {
    const reply = await command(stack, 'review', { runId: 'not-a-uuid', decision: 'maybe' });
    expect(reply).toMatchObject({ status: 'error', code: 'BAD_REQUEST' });
    expect(reply.status === 'error' && reply.message).toMatch(/decision/);
  });

  it('the guard fires the deadline while a tool runs: the run ends degraded with what it has', async () => {
    const name = scenarios.add('deadline', (req) => {
      const results = req.messages.filter((m) => m.role === 'tool').length;
      return results === 0
        ? toolCallsReply([{ name: 'calculator', arguments: { expression: '6 * 7' } }])
        : results === 1
          ? toolCallsReply([{ name: 'sleep', arguments: { ms: 4000 } }])
          : finalReply('too late');
    });
    const run = await submitRun(stack, name, {
      tools: ['calculator', 'sleep'],
      limits: { deadlineMs: 1000 },
    });
    const events = await waitForEvent(stack.pool, run.runId);
    const end = events.at(-1)!;
    expect(end).toMatchObject({ type: 'RunDegraded', data: { reason: { code: 'DEADLINE' } } });
    expect(String(end.data.answer)).toContain('"value":42');
    // It ended at the deadline, not when the sleeping tool returned.
    const { rows } = await stack.pool.query<{ type: string; data: { firedAt: string } }>(
      `SELECT type, data FROM events WHERE stream_id = $1 AND type = 'RunDeadlineExceeded'`,
      [`budget:${run.runId}`],
    );
    expect(rows).toHaveLength(1);
    expect(requestsOf(model, name)).toHaveLength(2);
  });

  it('a deadline with nothing to return: timed out, and dead-lettered for an operator', async () => {
    const name = scenarios.add('deadline-empty', () =>
      toolCallsReply([{ name: 'sleep', arguments: { ms: 4000 } }]),
    );
    const run = await submitRun(stack, name, { tools: ['sleep'], limits: { deadlineMs: 1000 } });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)).toMatchObject({ type: 'RunTimedOut' });
    const letter = await waitFor(
      async () =>
        (await deadLettersOf(stack, stack.names.consumers.plannerDeadlines)).find(
          (l) => l.runId === run.runId,
        ),
      { timeoutMs: 10_000, description: 'the timed-out run in the DLQ' },
    );
    expect(letter).toMatchObject({ code: 'RUN_TIMED_OUT' });
  });
});

function lastUser(req: { messages: { role: string; content?: unknown }[] }): string {
  const m = req.messages.filter((x) => x.role === 'user').at(-1);
  return typeof m?.content === 'string' ? m.content : '';
}

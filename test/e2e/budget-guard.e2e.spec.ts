import { ReserveBudgetReply, SpendingControlReply, streamIds, uuidv7 } from '@keel/contracts';
import { requestJson } from '@keel/messaging';
import {
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
} from '../support/scenarios';
import { freePort } from '../support/free-port';
import { startStack, streamTypes, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * The budget guard as its users meet it: tenant-day limits that hold under
 * concurrency across two guard replicas, cost budgets from a price table,
 * fail-closed behaviour when the guard is gone, deadlines that survive a guard
 * restart, and the kill switch.
 */
describe('budget guard', () => {
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let stack: KeelStack;
  const metricsPorts: number[] = [];

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    metricsPorts.push(await freePort(), await freePort(), await freePort());
    stack = await startStack({
      serviceEnv: (service): Record<string, string> =>
        service === 'budget-guard'
          ? { KEEL_METRICS_PORT: String(metricsPorts[0]) }
          : service === 'planner'
            ? { KEEL_METRICS_PORT: String(metricsPorts[2]) }
            : {},
      modelBaseUrl: model.baseUrl,
      env: {
        KEEL_REVIEW_ENABLED: 'false',
        // 1 token = $0.001 on the scripted model.
        KEEL_MODEL_PRICES: JSON.stringify({
          'keel-scripted': { inputPerMTok: 1000, outputPerMTok: 1000 },
        }),
        KEEL_TENANT_BUDGETS: JSON.stringify({ capped: { dailyTokens: 2000 } }),
        KEEL_MODEL_MAX_OUTPUT_TOKENS: '100',
        KEEL_BUDGET_TIMEOUT_MS: '500',
      },
    });
    await stack.start('budget-guard', 'budget-guard-2', {
      KEEL_METRICS_PORT: String(metricsPorts[1]),
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  /** Each replica keeps its own metrics port across restarts. */
  const restartGuard = (name: string) =>
    stack.start(
      'budget-guard',
      name,
      name === 'budget-guard-2' ? { KEEL_METRICS_PORT: String(metricsPorts[1]) } : {},
    );

  const reserve = (tenant: string, runId: string, reservationId: string) =>
    requestJson(
      stack.nc,
      stack.names.subjects.budgetReserve.build(),
      {
        runId,
        tenant,
        reservationId,
        model: 'keel-scripted',
        inputTokens: 60,
        outputTokens: 40,
        limitTokens: 1_000_000,
      },
      { timeoutMs: 10_000, schema: ReserveBudgetReply },
    );

  it('50 concurrent reservations against one tenant-day never grant more than it holds (2 replicas)', async () => {
    const runs = Array.from({ length: 10 }, () => uuidv7());
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => reserve('capped', runs[i % 10]!, `r-${i}`)),
    );
    const granted = replies.filter((r) => r.status === 'granted');
    expect(granted).toHaveLength(20); // 2,000 tokens / 100 each
    expect(replies.filter((r) => r.status === 'exhausted')).toHaveLength(30);
    const day = new Date().toISOString().slice(0, 10);
    const { rows } = await stack.pool.query<{ type: string; n: number }>(
      `SELECT type, count(*)::int AS n FROM events WHERE stream_id = $1 GROUP BY type ORDER BY type`,
      [streamIds.budget(`tenant:capped:${day}`)],
    );
    expect(rows).toEqual([
      { type: 'BudgetReservationDenied', n: 30 },
      { type: 'BudgetReserved', n: 20 },
    ]);
    // The answers are counted per tenant and outcome for Prometheus, across both replicas.
    let exhausted = 0;
    for (const port of metricsPorts) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const m of text.matchAll(
        /keel_budget_reservations_total\{[^}]*tenant="capped"[^}]*outcome="exhausted"[^}]*\} (\d+)/g,
      ))
        exhausted += Number(m[1]);
    }
    expect(exhausted).toBe(30);
  });

  /** The kill switch's halt / release (core request/reply to any guard). */
  const control = (subject: string, payload: Record<string, unknown>) =>
    requestJson(stack.nc, subject, payload, { timeoutMs: 5_000, schema: SpendingControlReply });
  const waitForPaused = (runId: string) =>
    waitFor(
      async () =>
        (await stack.pool.query('SELECT 1 FROM paused_runs WHERE run_id = $1', [runId]))
          .rowCount === 1,
      { timeoutMs: 20_000, description: 'the run to be recorded as paused' },
    );
  const waitForResumedCompletion = (runId: string) =>
    waitFor(
      async () => {
        const e = await waitForEvent(stack.pool, runId, undefined, 30_000);
        return e.at(-1)!.type === 'RunCompleted' ? e : undefined;
      },
      { timeoutMs: 40_000, description: 'the halted run to resume and complete' },
    );

  /** The run's budget-stream events, in log order. */
  const ledgerOf = async (runId: string) =>
    (
      await stack.pool.query<{ type: string; id: string; position: string }>(
        `SELECT type, data->>'reservationId' AS id, global_position::text AS position FROM events
          WHERE stream_id = $1 ORDER BY global_position`,
        [streamIds.budget(runId)],
      )
    ).rows;
  const positionOf = async (runId: string, type: string) =>
    (
      await stack.pool.query<{ p: string }>(
        `SELECT min(global_position)::text AS p FROM events
          WHERE metadata->>'correlationId' = $1 AND type = $2`,
        [runId, type],
      )
    ).rows[0]!.p;

  it('reserve-ahead: the next step is reserved while its tool runs, and every reservation is settled', async () => {
    const name = scenarios.add('ahead', (_req, i) =>
      i === 0 ? toolCallsReply([{ name: 'sleep', arguments: { ms: 400 } }]) : finalReply('done'),
    );
    const run = await submitRun(stack, name, { tools: ['sleep'] });
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)?.type).toBe('RunCompleted');
    const ledger = await ledgerOf(run.runId);
    const step2 = ledger.find((e) => e.type === 'BudgetReserved' && e.id === `${run.runId}:2`);
    expect(step2).toBeDefined();
    // Asked while the 400 ms tool ran: before the tool's outcome was recorded.
    expect(BigInt(step2!.position)).toBeLessThan(
      BigInt(await positionOf(run.runId, 'ToolCallSucceeded')),
    );
    // Each reservation reserved once and settled once; nothing left open. (The last
    // settlement is sent after the run's end is committed, so wait for it.)
    const settledIds = (l: typeof ledger) =>
      l.filter((e) => e.type === 'BudgetSettled').map((e) => e.id);
    const final = await waitFor(
      async () => {
        const l = await ledgerOf(run.runId);
        return settledIds(l).length >= 2 ? l : undefined;
      },
      { timeoutMs: 15_000, description: 'both reservations settled' },
    );
    const reserved = final.filter((e) => e.type === 'BudgetReserved').map((e) => e.id);
    expect(reserved).toEqual([`${run.runId}:1`, `${run.runId}:2`]);
    expect(settledIds(final).sort()).toEqual(reserved);
  });

  it('a run cancelled while its tool runs releases the reservation asked ahead', async () => {
    const name = scenarios.add('ahead-cancel', (_req, i) =>
      i === 0 ? toolCallsReply([{ name: 'sleep', arguments: { ms: 3000 } }]) : finalReply('never'),
    );
    const run = await submitRun(stack, name, { tools: ['sleep'] });
    const aheadId = `${run.runId}:2`;
    await waitFor(
      async () =>
        (await ledgerOf(run.runId)).some((e) => e.type === 'BudgetReserved' && e.id === aheadId),
      { timeoutMs: 15_000, description: 'the reservation asked ahead' },
    );
    await expect(
      command(stack, 'cancel', {
        runId: run.runId,
        tenant: 'acme',
        reason: 'no longer needed',
        requestedBy: 'ops',
      }),
    ).resolves.toMatchObject({ status: 'accepted', runStatus: 'cancelled' });
    await waitFor(
      async () =>
        (await ledgerOf(run.runId)).some((e) => e.type === 'BudgetSettled' && e.id === aheadId),
      { timeoutMs: 15_000, description: 'the reservation asked ahead released' },
    );
    const release = await stack.pool.query<{
      usage: { inputTokens: number; outputTokens: number };
    }>(
      `SELECT data->'usage' AS usage FROM events
        WHERE stream_id = $1 AND type = 'BudgetSettled' AND data->>'reservationId' = $2`,
      [streamIds.budget(run.runId), aheadId],
    );
    expect(release.rows[0]!.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
    expect(requestsOf(model, name)).toHaveLength(1); // no model call for the cancelled step
  });

  it('a halt during a slow tool stops the next model call even though its reservation was granted ahead', async () => {
    const name = scenarios.add('ahead-halt', (_req, i) =>
      i === 0 ? toolCallsReply([{ name: 'sleep', arguments: { ms: 3000 } }]) : finalReply('later'),
    );
    const run = await submitRun(stack, name, { tenant: 'initech', tools: ['sleep'] });
    await waitFor(
      async () =>
        (await ledgerOf(run.runId)).some(
          (e) => e.type === 'BudgetReserved' && e.id === `${run.runId}:2`,
        ),
      { timeoutMs: 15_000, description: 'the reservation asked ahead' },
    );
    await control(stack.names.subjects.budgetHalt.build(), {
      scope: 'initech',
      reason: 'investigation',
      requestedBy: 'ops',
    });
    try {
      // The tool ends after the halt is answered (a lease after its commit): the step asks
      // again and meets the halt.
      await waitForPaused(run.runId);
      expect(requestsOf(model, name)).toHaveLength(1);
    } finally {
      await control(stack.names.subjects.budgetRelease.build(), {
        scope: 'initech',
        requestedBy: 'ops',
      });
    }
    const events = await waitForResumedCompletion(run.runId);
    expect(typesOf(events).filter((t) => t === 'ModelDecisionRecorded')).toHaveLength(2);
  });

  it('a run’s cost budget (priced by model) ends it degraded before it overspends', async () => {
    const name = scenarios.add('costly', (req) =>
      toolCallsReply([
        { name: 'calculator', arguments: { expression: `${req.messages.length} + 1` } },
      ]),
    );
    // Each step reserves ~100+ tokens = ~$0.1; $0.35 allows about three.
    const run = await submitRun(stack, name, { limits: { maxCostUsd: 0.35 } });
    const events = await waitForEvent(stack.pool, run.runId);
    const end = events.at(-1)!;
    expect(end).toMatchObject({
      type: 'RunDegraded',
      data: { reason: { code: 'BUDGET_EXHAUSTED' } },
    });
    expect(String((end.data.reason as { message: string }).message)).toMatch(/\$/);
    const settled = await stack.pool.query<{ cost: string }>(
      `SELECT coalesce(sum((data->>'costMicros')::bigint), 0)::text AS cost FROM events
        WHERE stream_id = $1 AND type = 'BudgetSettled'`,
      [streamIds.budget(run.runId)],
    );
    expect(Number(settled.rows[0]!.cost)).toBeLessThanOrEqual(350_000);
  });

  it('a run’s output-token ceiling is enforced at reservation: no call that could pass it is made', async () => {
    const name = scenarios.add('terse', () => finalReply('never asked'));
    // Each call reserves the output cap (100 tokens here); the run allows 50 output tokens.
    const run = await submitRun(stack, name, {
      limits: { maxTokens: 100_000, maxOutputTokens: 50 },
    });
    const end = (await waitForEvent(stack.pool, run.runId)).at(-1)!;
    expect(end.type).toMatch(/RunDegraded|RunFailed/);
    expect(JSON.stringify(end.data)).toMatch(
      /BUDGET_EXHAUSTED.*100 output tokens would commit 100 of the run's 50/,
    );
    expect(requestsOf(model, name)).toHaveLength(0);
    expect(await streamTypes(stack.pool, streamIds.budget(run.runId))).toEqual([
      'BudgetReservationDenied',
    ]);
  });

  it('fails closed: with no guard, no model call happens; with the guard back, the run completes', async () => {
    const name = scenarios.add('guard-down', (req, i) =>
      req.messages.some((m) => m.role === 'tool')
        ? finalReply('done')
        : calculatorScript('6 * 7', 'It is ')(req, i),
    );
    const guards = ['budget-guard', 'budget-guard-2'];
    for (const g of guards) {
      const h = stack.services.get(g)!;
      h.kill('SIGKILL');
      await h.exited;
    }
    const run = await submitRun(stack, name);
    await new Promise((r) => setTimeout(r, 2000));
    expect(requestsOf(model, name)).toHaveLength(0); // no unchecked spending
    // Nothing was recorded either: RunRequested commits with the first (checked) decision.
    expect(await streamTypes(stack.pool, streamIds.run(run.runId))).toEqual([]);
    for (const g of guards) await restartGuard(g);
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)!.type).toBe('RunCompleted');
    expect(requestsOf(model, name).length).toBeGreaterThan(0);
  });

  it('a deadline armed before a guard restart still fires, once, and not early', async () => {
    const name = scenarios.add('deadline-restart', (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? finalReply('late')
        : toolCallsReply([{ name: 'sleep', arguments: { ms: 6000 } }]),
    );
    const run = await submitRun(stack, name, { tools: ['sleep'], limits: { deadlineMs: 2500 } });
    await waitForEvent(stack.pool, run.runId, 'ToolCallRequested');
    for (const g of ['budget-guard', 'budget-guard-2']) {
      const h = stack.services.get(g)!;
      h.kill('SIGKILL');
      await h.exited;
    }
    await new Promise((r) => setTimeout(r, 800));
    for (const g of ['budget-guard', 'budget-guard-2']) await restartGuard(g);
    const events = await waitForEvent(stack.pool, run.runId);
    expect(events.at(-1)!.type).toBe('RunTimedOut');
    const fired = await stack.pool.query<{ data: { deadlineAt: string; firedAt: string } }>(
      `SELECT data FROM events WHERE stream_id = $1 AND type = 'RunDeadlineExceeded'`,
      [streamIds.budget(run.runId)],
    );
    expect(fired.rows).toHaveLength(1);
    const late =
      Date.parse(fired.rows[0]!.data.firedAt) - Date.parse(fired.rows[0]!.data.deadlineAt);
    expect(late).toBeGreaterThanOrEqual(0);
    process.stdout.write(
      `deadline fired ${late} ms after it passed (guards restarted meanwhile)\n`,
    );
  });

  it('the kill switch pauses a tenant’s runs before their next model call and resumes them on release', async () => {
    const name = scenarios.add('halted', (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? finalReply('resumed')
        : toolCallsReply([{ name: 'calculator', arguments: { expression: '1 + 1' } }]),
    );
    await expect(
      control(stack.names.subjects.budgetHalt.build(), {
        scope: 'acme',
        reason: 'runaway spend investigation',
        requestedBy: 'ops',
      }),
    ).resolves.toMatchObject({ status: 'accepted', halted: [{ scope: 'acme' }] });
    const run = await submitRun(stack, name);
    // The guard records the run as paused; the planner acks instead of waiting in a
    // redelivery loop, so a long halt never uses up the message's deliveries.
    await waitForPaused(run.runId);
    await waitFor(
      async () =>
        (
          await stack.jsm.consumers.info(
            stack.names.streams.ingress,
            stack.names.consumers.plannerIngress,
          )
        ).num_ack_pending === 0,
      { timeoutMs: 10_000, description: 'the paused run’s request to be acked' },
    );
    expect(requestsOf(model, name)).toHaveLength(0);
    // Another tenant is not affected.
    const other = await submitRun(stack, name, { tenant: 'globex' });
    expect((await waitForEvent(stack.pool, other.runId)).at(-1)!.type).toBe('RunCompleted');
    await control(stack.names.subjects.budgetRelease.build(), {
      scope: 'acme',
      requestedBy: 'ops',
    });
    const events = await waitForResumedCompletion(run.runId);
    expect(typesOf(events).filter((t) => t === 'ModelDecisionRecorded')).toHaveLength(2);
    expect(await streamTypes(stack.pool, streamIds.budget(run.runId))).toContain('SpendingResumed');
    const { rowCount } = await stack.pool.query('SELECT 1 FROM paused_runs WHERE run_id = $1', [
      run.runId,
    ]);
    expect(rowCount).toBe(0);
    // Per-tenant run metrics from the planner: steps and endings.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPorts[2]}/metrics`)).text();
    expect(metrics).toMatch(/keel_run_steps_total\{tenant="acme"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/keel_run_ended_total\{tenant="acme",status="completed"[^}]*\} [1-9]/);
  });
});

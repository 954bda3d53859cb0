import { FleetBreakerState, fleetBreakerKey, streamIds } from '@keel/contracts';
import {
  finalReply,
  startScriptedModel,
  toolCallsReply,
  waitFor,
  type ScriptedModel,
} from '@keel/testing';
import { startDependencyServer, type DependencyServer } from '../support/dependency-server';
import { freePort } from '../support/free-port';
import { eventsOfRun, Scenarios, submitRun, textOf, waitForEvent } from '../support/scenarios';
import { startStack, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * Fleet-wide breakers with two tool-executor replicas. Each replica's own
 * breaker is set never to open (100 failures), so every fail-fast below is
 * the fleet's verdict: the guard derived it from failure events and published
 * it in the KV bucket, and the replicas refused from their watch.
 */
describe('fleet-wide circuit breakers', () => {
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let api: DependencyServer;
  let stack: KeelStack;
  let metricsPort: number;
  let healthy = false;

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    api = await startDependencyServer();
    metricsPort = await freePort();
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      serviceEnv: (service): Record<string, string> =>
        service === 'budget-guard' ? { KEEL_METRICS_PORT: String(metricsPort) } : {},
      env: {
        KEEL_HTTP_GET_ALLOWED_HOSTS: api.host,
        KEEL_TOOL_BREAKER_FAILURES: '100',
        KEEL_FLEET_BREAKER_FAILURES: '3',
        KEEL_FLEET_BREAKER_COOLDOWN_MS: '20000',
        KEEL_FLEET_BREAKER_SWEEP_MS: '200',
        KEEL_REVIEW_ENABLED: 'false',
        KEEL_RUN_TOOL_RETRY_BUDGET: '10',
      },
    });
    await stack.start('tool-executor', 'tool-executor-2');
  });

  afterAll(async () => {
    await stack?.stop();
    await api?.close();
    await model?.close();
  });

  const stop = async (instance: string) => {
    const h = stack.services.get(instance)!;
    h.kill('SIGTERM');
    await h.exited;
  };
  const breaker = () => `tool:http_get:${api.host}`;
  const oneCall = (name: string, url: string) =>
    scenarios.add(name, (req, i) =>
      i === 0
        ? toolCallsReply([{ name: 'http_get', arguments: { url } }])
        : finalReply(`tool said: ${textOf(req.messages.at(-1))}`),
    );
  const lastToolEvent = async (runId: string) =>
    (await eventsOfRun(stack.pool, runId, 'toolcall')).at(-1)!;
  const published = async () => {
    const kv = await stack.js.views.kv(stack.names.buckets.breakers, { bindOnly: true });
    const entry = await kv.get(fleetBreakerKey(breaker()));
    return entry ? FleetBreakerState.parse(entry.json()) : undefined;
  };
  const transitions = async () => {
    const { rows } = await stack.pool.query<{ data: { from: string; to: string } }>(
      'SELECT data FROM events WHERE stream_id = $1 ORDER BY stream_version',
      [streamIds.budget(`breaker:${breaker()}`)],
    );
    return rows.map((r) => `${r.data.from}->${r.data.to}`);
  };

  it('failures seen by the fleet open the breaker for every replica; recovery closes it', async () => {
    const url = api.on('/flaky', () =>
      healthy ? { status: 200, body: { ok: true } } : { status: 503 },
    );

    // 1. The dependency fails: http_get's 3 attempts (whichever replica runs them) open the fleet breaker.
    const first = await submitRun(stack, oneCall('fleet-1', url), { tools: ['http_get'] });
    await waitForEvent(stack.pool, first.runId);
    expect(await lastToolEvent(first.runId)).toMatchObject({ type: 'ToolCallFailed' });
    await waitFor(async () => (await published())?.state === 'open', {
      timeoutMs: 10_000,
      description: 'the open breaker in the KV bucket',
    });
    const open = (await published())!;
    expect(open).toMatchObject({ state: 'open', reason: 'HTTP_503', failures: 3 });
    // How fast the verdict reached the bucket (reported, not asserted: no timing in tests).
    const { rows } = await stack.pool.query<{ created_at: Date }>(
      `SELECT created_at FROM events WHERE type = 'ToolCallAttemptFailed'
        AND metadata->>'correlationId' = $1 ORDER BY global_position DESC LIMIT 1`,
      [first.runId],
    );
    console.log(
      `fleet breaker open at ${open.since}, ${Date.parse(open.since) - rows[0]!.created_at.getTime()} ms after the third failure was recorded`,
    );
    expect(await transitions()).toEqual(['closed->open']);
    const reached = api.count('/flaky');

    // 2. Each replica alone refuses without calling the dependency (its own breaker is
    //    closed): first the one that kept running, then the other, started afresh.
    const refusedBy = async (replica: string) => {
      const run = await submitRun(stack, oneCall(`fleet-refused-${replica}`, url), {
        tools: ['http_get'],
      });
      await waitForEvent(stack.pool, run.runId);
      const last = await lastToolEvent(run.runId);
      expect(last).toMatchObject({
        type: 'ToolCallFailed',
        data: { error: { code: 'TOOL_CIRCUIT_OPEN' } },
      });
      expect(JSON.stringify(last.data.error)).toContain('across the fleet');
      expect(api.count('/flaky')).toBe(reached);
    };
    await stop('tool-executor');
    await refusedBy('tool-executor-2');
    await stack.start('tool-executor');
    await stop('tool-executor-2');
    await refusedBy('tool-executor');

    // 3. The dependency recovers: after the cool-down a probe goes through and closes the breaker.
    healthy = true;
    await waitFor(async () => (await transitions()).length >= 2, {
      timeoutMs: 40_000,
      description: 'the half-open transition',
    });
    const probe = await submitRun(stack, oneCall('fleet-probe', url), { tools: ['http_get'] });
    await waitForEvent(stack.pool, probe.runId);
    expect(await lastToolEvent(probe.runId)).toMatchObject({ type: 'ToolCallSucceeded' });
    await waitFor(async () => (await published())?.state === 'closed', {
      timeoutMs: 10_000,
      description: 'the closed breaker in the KV bucket',
    });
    expect(await transitions()).toEqual(['closed->open', 'open->half_open', 'half_open->closed']);

    // Transitions are metrics too: the state gauge (0 = closed) and a counter per target state.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const label = `breaker="${breaker()}"`;
    expect(metrics).toMatch(new RegExp(`keel_fleet_breaker_state\\{${label}[^}]*\\} 0\\n`));
    expect(metrics).toMatch(
      new RegExp(`keel_fleet_breaker_transitions_total\\{${label},to="open"[^}]*\\} 1\\n`),
    );
  });

  it('a success after counted failures resets the fleet count: failures must be consecutive to open', async () => {
    // Replicas report a success only while the bucket says the breaker counts failures, so
    // this fails if reports are not sent, not received, or not applied.
    const failedTwice = (path: string) =>
      api.on(path, (n) => (n < 2 ? { status: 503 } : { status: 200, body: { ok: true } }));
    const counted = async (runId: string) => {
      const { rows } = await stack.pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM inbox i JOIN events e ON e.event_id::text = i.message_id
          WHERE i.consumer = $1 AND e.metadata->>'correlationId' = $2`,
        [stack.names.consumers.breakerHealth('ToolCallAttemptFailed'), runId],
      );
      return Number(rows[0]!.n);
    };
    const runOn = async (name: string, url: string) => {
      const run = await submitRun(stack, oneCall(name, url), { tools: ['http_get'] });
      await waitForEvent(stack.pool, run.runId);
      expect(await lastToolEvent(run.runId)).toMatchObject({ type: 'ToolCallSucceeded' });
      return run.runId;
    };
    const before = await transitions();
    expect((await published())?.state ?? 'closed').toBe('closed'); // unknown: never failed

    // Two failed attempts, then the third succeeds: 2 failures counted (threshold 3).
    const first = await runOn('blip-1', `${failedTwice('/blip-1')}?run=1`);
    await waitFor(async () => (await counted(first)) === 2, {
      timeoutMs: 10_000,
      description: 'both failed attempts counted by the guard',
    });
    // Healthy calls until a reported success has reset the count (the first may have been
    // made before the replicas saw the count, and then it is not reported).
    api.on('/healthy', () => ({ status: 200, body: { ok: true } }));
    let n = 0;
    await waitFor(
      async () => {
        await runOn(`healthy-${++n}`, `${api.base}/healthy?run=${n}`);
        const now = await published();
        return now?.state === 'closed' && now.failures === 0;
      },
      { timeoutMs: 30_000, description: 'a reported success resetting the count' },
    );

    // Two more failures: 2 consecutive, not 4, so the breaker stays closed.
    const second = await runOn('blip-2', `${failedTwice('/blip-2')}?run=2`);
    await waitFor(async () => (await counted(second)) === 2, {
      timeoutMs: 10_000,
      description: 'the second pair of failures counted',
    });
    const { rows } = await stack.pool.query<{ state: string; failures: number }>(
      'SELECT state, failures FROM fleet_breakers WHERE name = $1',
      [breaker()],
    );
    expect(rows[0]!.state).toBe('closed');
    expect(rows[0]!.failures).toBeLessThanOrEqual(2);
    expect(await transitions()).toEqual(before);
  });
});

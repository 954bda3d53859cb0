import { waitFor } from '@keel/testing';
import type { ServiceName } from '../support/stack';
import {
  addWebhookScenario,
  finishScenario,
  killAndRestart,
  startChaosWorld,
  submitWebhookRuns,
  type ChaosWorld,
} from './support/harness';
import { chaosScale } from './support/summary';

jest.setTimeout(300_000);

/**
 * A consumer dies (SIGKILL, from the test-only hook
 * `consumer:<durable>:before-ack`) after its handler's PostgreSQL commit and
 * before the ack, for each consumer on a run's path: the planner's ingress and
 * tool results, the tool pool, the outbox's deliveries. JetStream redelivers;
 * the inbox (and the recorded state) absorbs it: one effect, one set of events.
 */
describe('chaos 03: consumer killed after its commit, before the ack', () => {
  const scale = chaosScale();
  const RUNS = scale.runs(12, 4);
  let world: ChaosWorld;

  beforeAll(async () => {
    world = await startChaosWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('the inbox absorbs every redelivery', async () => {
    const name = addWebhookScenario(world, 'ack-kill');
    const { consumers } = world.stack.names;
    const targets: [ServiceName, string][] = [
      ['planner', consumers.plannerIngress],
      ['tool-executor', consumers.toolPool('default')],
      ['outbox', consumers.outboxDeliveries],
      ['planner', consumers.plannerToolResults],
    ];
    const runIds: string[] = [];
    let faults = 0;
    for (const [service, durable] of targets) {
      const point = `consumer:${durable}:before-ack`;
      await killAndRestart(world, service, { KEEL_FAULT_KILL_AT: point });
      const victim = world.stack.services.get(service)!;
      runIds.push(...(await submitWebhookRuns(world, name, RUNS, durable)));
      const exit = await victim.exited;
      expect(exit.signal).toBe('SIGKILL');
      expect(victim.logs()).toContain(`"point":"${point}"`);
      faults++;
      await world.stack.start(service);
    }
    await waitFor(() => world.receiver.processedByKey.size >= runIds.length, {
      timeoutMs: 120_000,
      description: `${runIds.length} webhooks processed`,
    });
    await finishScenario(world, {
      scenario: '03-consumer-kill-before-ack',
      runIds,
      faults,
      expectedEffects: runIds.length,
    });
    // The redelivered message reached the consumer again and was absorbed by the inbox.
    const { rows } = await world.stack.pool.query<{ consumer: string; n: number }>(
      'SELECT consumer, count(*)::int AS n FROM inbox GROUP BY consumer',
    );
    const inbox = new Map(rows.map((r) => [r.consumer, r.n]));
    expect(inbox.get(consumers.plannerIngress)).toBe(runIds.length);
  });
});

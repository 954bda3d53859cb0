import { waitFor } from '@keel/testing';
import {
  addWebhookScenario,
  finishScenario,
  killAndRestart,
  startChaosWorld,
  submitWebhookRuns,
  type ChaosWorld,
} from './support/harness';
import { chaosScale } from './support/summary';

jest.setTimeout(240_000);

/**
 * The relay dies (SIGKILL, from the test-only hook `relay:after-publish`)
 * after JetStream acknowledged a batch and before its checkpoint write. The
 * restarted relay re-sends the batch from the old checkpoint with the same
 * Nats-Msg-Id: JetStream drops the copies, consumers see each event once, and
 * the receiver counts each webhook once.
 */
describe('chaos 02: relay killed between the NATS ack and its checkpoint', () => {
  const scale = chaosScale();
  const RUNS = scale.runs(40, 10);
  const KILLS = scale.runs(4, 2);
  let world: ChaosWorld;

  beforeAll(async () => {
    world = await startChaosWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('one logical delivery per event and one effect per key', async () => {
    const name = addWebhookScenario(world, 'relay-kill');
    const runIds: string[] = [];
    let faults = 0;
    for (let k = 0; k < KILLS; k++) {
      // Arm the hook, then give the relay work: it dies after the PubAcks of its first batch.
      await killAndRestart(world, 'outbox', { KEEL_FAULT_KILL_AT: 'relay:after-publish' });
      const relay = world.stack.services.get('outbox')!;
      runIds.push(...(await submitWebhookRuns(world, name, Math.ceil(RUNS / KILLS), `k${k}`)));
      const exit = await relay.exited;
      expect(exit.signal).toBe('SIGKILL');
      expect(relay.logs()).toContain('"point":"relay:after-publish"');
      faults++;
      // The checkpoint is behind what JetStream already holds: the next relay re-sends it.
      const fired = /"lastPosition":"(\d+)"/.exec(relay.logs())![1]!;
      const cp = await world.stack.pool.query<{ p: string }>(
        'SELECT global_position::text AS p FROM checkpoints WHERE name LIKE $1',
        ['relay:%'],
      );
      expect(BigInt(cp.rows[0]?.p ?? '0')).toBeLessThan(BigInt(fired));
      await world.stack.start('outbox');
    }
    await waitFor(() => world.receiver.processedByKey.size >= runIds.length, {
      timeoutMs: 120_000,
      description: `${runIds.length} webhooks processed`,
    });
    const report = await finishScenario(world, {
      scenario: '02-relay-kill-after-ack',
      runIds,
      faults,
      expectedEffects: runIds.length,
    });
    expect(report.transportDuplicates).toBe(0); // JetStream dropped every re-sent copy
  });
});

import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@keel/testing';
import { DedicatedNats } from '../support/dedicated-nats';
import {
  addWebhookScenario,
  dumpLogs,
  finishScenario,
  startChaosWorld,
  submitWebhookRuns,
  type ChaosWorld,
} from './support/harness';
import { chaosScale } from './support/summary';

jest.setTimeout(420_000);

/**
 * A dedicated nats-server (never the shared one):
 * 1. kill -9 and restart under load: the services and the relay reconnect,
 *    every run ends, every webhook once;
 * 2. amnesia: stop it, delete the events stream's store directory, start it.
 *    The relay notices its checkpoint is ahead of what the stream holds,
 *    re-publishes the log from the start (same Nats-Msg-Id), the consumers
 *    are declared again and de-duplicate the old events: no effect twice, and
 *    runs submitted afterwards go through.
 */
describe('chaos 05: NATS kill -9, then NATS amnesia', () => {
  const scale = chaosScale();
  const RUNS = scale.runs(40, 8);
  const KILLS = scale.runs(3, 1);
  let nats: DedicatedNats;
  let world: ChaosWorld;

  beforeAll(async () => {
    nats = await DedicatedNats.create();
    world = await startChaosWorld({
      nats: { url: nats.url, prefix: 'keel' },
      env: { KEEL_RELAY_AMNESIA_CHECK_MS: '1000' },
    });
  });
  afterAll(async () => {
    await world?.close();
    await nats?.stop();
  });

  const processed = (n: number, what: string) =>
    waitFor(() => world.receiver.processedByKey.size >= n, {
      timeoutMs: 120_000,
      description: () => `${n} webhooks ${what} (got ${world.receiver.processedByKey.size})`,
    });

  it('reconnects after kill -9 and re-sends the log after amnesia, no effect twice', async () => {
    const name = addWebhookScenario(world, 'nats');
    const runIds: string[] = [];
    let faults = 0;

    for (let k = 0; k < KILLS; k++) {
      runIds.push(...(await submitWebhookRuns(world, name, Math.ceil(RUNS / KILLS), `kill${k}`)));
      await processed(1 + Math.floor(runIds.length / 3), 'before the kill');
      await nats.kill();
      await nats.start();
      faults++;
    }
    await processed(runIds.length, 'after the kills');
    // Every run of phase 1 has ended, so the ingress stream holds nothing the wipe could take.
    const before = await finishScenario(world, {
      scenario: '05a-nats-kill',
      runIds,
      faults,
      expectedEffects: runIds.length,
    });
    expect(before.violations).toEqual([]);

    // Amnesia: the events stream's store is gone (with its consumers).
    await nats.kill();
    const store = join(nats.dir, 'jetstream', '$G', 'streams', world.stack.names.streams.events);
    expect(existsSync(store)).toBe(true);
    rmSync(store, { recursive: true, force: true });
    await nats.start();
    faults++;
    const outbox = world.stack.services.get('outbox')!;
    await outbox.waitForLog(/amnesia/, 60_000).catch((err: unknown) => {
      dumpLogs(world);
      throw err;
    });
    const after = await submitWebhookRuns(world, name, Math.ceil(RUNS / 2), 'after-amnesia');
    runIds.push(...after);
    await processed(runIds.length, 'after the amnesia');
    await finishScenario(
      world,
      { scenario: '05b-nats-amnesia', runIds, faults, expectedEffects: runIds.length },
      { settleTimeoutMs: 90_000 },
    );
  });
});

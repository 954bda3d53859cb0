import { waitFor } from '@keel/testing';
import { SERVICES, type ServiceName } from '../support/stack';
import {
  addWebhookScenario,
  finishScenario,
  killAndRestart,
  startChaosWorld,
  submitWebhookRuns,
  type ChaosWorld,
} from './support/harness';
import { chaosSeed, seeded } from './support/random';
import { chaosScale } from './support/summary';

jest.setTimeout(600_000);

/**
 * kill -9 of every service (planner, tool executor, budget guard, outbox) at
 * random points while runs go through, each restarted at once. The schedule
 * comes from a seed (printed; replay with KEEL_CHAOS_SEED=<seed>).
 */
describe('chaos 01: kill -9 each service at random points', () => {
  const scale = chaosScale();
  const RUNS = scale.runs(100, 16);
  const KILLS = scale.runs(16, 6);
  const seed = chaosSeed();
  const random = seeded(seed);
  let world: ChaosWorld;

  beforeAll(async () => {
    process.stdout.write(`chaos 01: KEEL_CHAOS_SEED=${seed}\n`);
    world = await startChaosWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  it(`every run ends, every effect once (seed ${seed})`, async () => {
    const name = addWebhookScenario(world, 'kill-all');
    const waves = 4;
    const runIds: string[] = [];
    const kills: ServiceName[] = [];
    const killer = (async () => {
      // Every service at least once, then random victims; random pauses between kills.
      const order = [
        ...SERVICES,
        ...Array.from(
          { length: KILLS - SERVICES.length },
          () => SERVICES[Math.floor(random() * SERVICES.length)]!,
        ),
      ];
      for (const victim of order) {
        await new Promise((r) => setTimeout(r, 100 + random() * 900));
        await killAndRestart(world, victim);
        kills.push(victim);
      }
    })();
    for (let w = 0; w < waves; w++) {
      runIds.push(
        ...(await submitWebhookRuns(world, name, Math.ceil(RUNS / waves), `s${seed}-w${w}`)),
      );
      await new Promise((r) => setTimeout(r, 200 + random() * 800));
    }
    await killer;
    await waitFor(() => world.receiver.processedByKey.size >= runIds.length, {
      timeoutMs: 180_000,
      description: () =>
        `${runIds.length} webhooks (got ${world.receiver.processedByKey.size}; seed ${seed}, kills ${kills.join(', ')})`,
    });
    process.stdout.write(`chaos 01: seed ${seed}, kills [${kills.join(', ')}]\n`);
    await finishScenario(
      world,
      {
        scenario: '01-kill-services',
        runIds,
        faults: kills.length,
        expectedEffects: runIds.length,
      },
      { settleTimeoutMs: 120_000 },
    );
  });
});

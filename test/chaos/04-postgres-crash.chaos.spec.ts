import { Pool } from 'pg';
import { streamIds, uuidv7 } from '@keel/contracts';
import { appendToStream } from '@keel/event-store';
import { waitFor } from '@keel/testing';
import { DedicatedPostgres } from '../support/dedicated-postgres';
import {
  addWebhookScenario,
  finishScenario,
  startChaosWorld,
  submitWebhookRuns,
  type ChaosWorld,
} from './support/harness';
import { chaosScale } from './support/summary';

jest.setTimeout(300_000);

/**
 * PostgreSQL (a dedicated cluster, never the shared one) stopped immediately
 * — no checkpoint, crash recovery on start — under load: runs in flight and a
 * writer appending events and noting every commit PostgreSQL acknowledged.
 * After the restart no acknowledged event is missing, the services reconnect
 * by themselves and every run ends.
 */
describe('chaos 04: PostgreSQL immediate stop under load', () => {
  const scale = chaosScale();
  const RUNS = scale.runs(40, 10);
  const CRASHES = scale.runs(3, 1);
  let pg: DedicatedPostgres;
  let world: ChaosWorld;
  let writerPool: Pool;

  beforeAll(async () => {
    pg = await DedicatedPostgres.create();
    world = await startChaosWorld({ databaseUrl: pg.url });
    writerPool = new Pool({
      connectionString: pg.url,
      max: 2,
      options: `-c search_path=${world.stack.ns.schema}`,
    });
    writerPool.on('error', () => undefined);
  });
  afterAll(async () => {
    await writerPool?.end().catch(() => undefined);
    await world?.close();
    await pg?.stop();
  });

  it('loses no acknowledged commit and every run ends', async () => {
    const name = addWebhookScenario(world, 'pg-crash');
    const acked: string[] = [];
    let writing = true;
    const writer = (async () => {
      // One stream, appended to one event per commit; only acknowledged commits are noted.
      const run = uuidv7();
      let version = 0;
      while (writing) {
        const eventId = uuidv7();
        try {
          await appendToStream(writerPool, streamIds.budget(run), version, [
            {
              type: 'BudgetSettled',
              data: {
                runId: run,
                reservationId: `${run}:${version + 1}`,
                usage: { inputTokens: 1, outputTokens: 1 },
                costMicros: 0,
              },
              metadata: { eventId, correlationId: run, tenant: 'acme', producer: 'chaos-04' },
            },
          ]);
          acked.push(eventId);
          version++;
        } catch {
          // Unknown outcome (connection lost mid-commit): re-read the version and go on.
          await new Promise((r) => setTimeout(r, 100));
          const { rows } = await writerPool
            .query<{ v: number }>(
              'SELECT coalesce(max(stream_version), 0)::int AS v FROM events WHERE stream_id = $1',
              [streamIds.budget(run)],
            )
            .catch(() => ({ rows: [{ v: version }] }));
          version = rows[0]!.v;
        }
      }
    })();

    const runIds: string[] = [];
    for (let c = 0; c < CRASHES; c++) {
      runIds.push(...(await submitWebhookRuns(world, name, Math.ceil(RUNS / CRASHES), `c${c}`)));
      await waitFor(() => acked.length > 20 * (c + 1), {
        timeoutMs: 30_000,
        description: 'writer progress',
      });
      await pg.crash();
      await new Promise((r) => setTimeout(r, 1000)); // outage, not an assertion
      await pg.start();
    }
    await waitFor(() => world.receiver.processedByKey.size >= runIds.length, {
      timeoutMs: 150_000,
      description: `${runIds.length} webhooks after the crashes`,
    });
    writing = false;
    await writer;
    // Every service is still the first process: they reconnected by themselves.
    for (const [svc, h] of world.stack.services) expect([svc, h.exit]).toEqual([svc, undefined]);
    await finishScenario(
      world,
      { scenario: '04-postgres-crash', runIds, faults: CRASHES, expectedEffects: runIds.length },
      { ackedEventIds: acked, settleTimeoutMs: 90_000 },
    );
  });
});

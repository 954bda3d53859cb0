import { DeadLetter, streamIds } from '@keel/contracts';
import { ensureConsumer, startConsumer, type ConsumerHandle } from '@keel/messaging';
import { waitFor } from '@keel/testing';
import pino from 'pino';
import { deadLettersOf } from '../support/stack';
import {
  addWebhookScenario,
  finishScenario,
  startChaosWorld,
  submitWebhookRuns,
  type ChaosWorld,
} from './support/harness';
import { chaosScale } from './support/summary';

jest.setTimeout(180_000);

const MAX_DELIVER = 4;

/**
 * A handler that always fails, on Keel's consume loop, bound to the
 * `RunRequested` events of the stack while real runs go through the services:
 * each of its messages is attempted exactly `max_deliver` times, then
 * dead-lettered once with its payload and reason (and ingested into
 * `dead_letters` by the budget guard); the runs themselves are unaffected.
 */
describe('chaos 07: a handler that always fails', () => {
  const RUNS = chaosScale().runs(20, 6);
  let world: ChaosWorld;
  let handle: ConsumerHandle | undefined;

  beforeAll(async () => {
    world = await startChaosWorld();
  });
  afterAll(async () => {
    await handle?.stop();
    await world?.close();
  });

  it('max_deliver attempts, one dead letter per message, other work unaffected', async () => {
    const { stack } = world;
    const durable = 'chaos-always-fails';
    await ensureConsumer(stack.jsm, stack.names.streams.events, {
      durable,
      filterSubject: stack.names.subjects.eventsOfType.pattern('run', 'RunRequested'),
      ackWaitMs: 5000,
      maxDeliver: MAX_DELIVER,
      maxAckPending: 64,
    });
    const attempts = new Map<number, number>();
    handle = startConsumer({
      js: stack.js,
      stream: stack.names.streams.events,
      durable,
      concurrency: 8,
      maxDeliver: MAX_DELIVER,
      names: stack.names,
      logger: pino({ level: 'silent' }),
      handler: (msg) => {
        attempts.set(msg.streamSequence, (attempts.get(msg.streamSequence) ?? 0) + 1);
        throw new Error('downstream system is broken');
      },
    });

    const name = addWebhookScenario(world, 'always-fails');
    const runIds = await submitWebhookRuns(world, name, RUNS, 'dlq');
    await waitFor(async () => (await deadLettersOf(stack, durable)).length >= RUNS, {
      timeoutMs: 90_000,
      description: `${RUNS} dead letters of ${durable}`,
    });
    await finishScenario(world, {
      scenario: '07-always-failing-handler',
      runIds,
      faults: RUNS,
      expectedEffects: RUNS,
    });

    const letters = await deadLettersOf(stack, durable);
    expect(letters).toHaveLength(RUNS); // one per message, none twice
    expect([...attempts.values()]).toEqual(Array(RUNS).fill(MAX_DELIVER));
    for (const dl of letters) {
      expect(DeadLetter.parse(dl).code).toBe('HANDLER_FAILED');
      expect(dl.reason).toContain('downstream system is broken');
      expect(dl.deliveries).toBe(MAX_DELIVER);
      const payload = JSON.parse(Buffer.from(dl.payloadBase64, 'base64').toString('utf8')) as {
        streamId: string;
        type: string;
      };
      expect(payload.type).toBe('RunRequested');
      expect(runIds.map((r) => streamIds.run(r))).toContain(payload.streamId);
    }
    // The budget guard ingested each as one open entry (the TERMINATED advisory is its duplicate).
    await waitFor(
      async () => {
        const { rows } = await stack.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM dead_letters
            WHERE consumer = $1 AND duplicate_of IS NULL AND kind = 'dead_letter'`,
          [durable],
        );
        return rows[0]!.n === RUNS;
      },
      { timeoutMs: 30_000, description: 'every dead letter ingested once' },
    );
  });
});

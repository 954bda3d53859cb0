import pino from 'pino';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { keelNames, runIdFor, uuidv7 } from '@keel/contracts';
import { appendToStream } from '@keel/event-store';
import { ensureStreams } from '@keel/messaging';
import { migratedTestSchema, testNamespace, waitFor, type TestSchema } from '@keel/testing';
import { Relay } from './relay';

const NATS_URL = process.env.KEEL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/**
 * The relay's wake-ups against real PostgreSQL and NATS, with polling set far
 * out of reach (60 s): every event below can only arrive in time if NOTIFY woke
 * the relay. The relay stops listening at the first notification of a batch and
 * listens again once it has caught up; a lost re-LISTEN would leave the later
 * bursts waiting for the poll.
 */
describe('Relay wake-ups (NOTIFY, one per batch)', () => {
  const names = keelNames(testNamespace().prefix);
  let db: TestSchema;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let relay: Relay;

  beforeAll(async () => {
    db = await migratedTestSchema('rl');
    nc = await connect({ servers: NATS_URL, name: 'relay-int-test' });
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
    relay = new Relay({
      pool: db.pool,
      js: nc.jetstream(),
      names,
      log: pino({ level: 'silent' }),
      schema: db.schema,
      batchSize: 1000,
      pollIntervalMs: 60_000,
      coalesceMs: 10,
      amnesiaCheckMs: 0,
    });
    relay.start();
  });
  afterAll(async () => {
    await relay.stop();
    for (const s of Object.values(names.streams)) await jsm.streams.delete(s).catch(() => false);
    await nc.close();
    await db.drop();
  });

  const appendRuns = (n: number) =>
    Promise.all(
      Array.from({ length: n }, () => {
        const requestId = uuidv7();
        const runId = runIdFor('acme', requestId);
        return appendToStream(db.pool, `run:${runId}`, 0, [
          {
            type: 'RunRequested',
            data: {
              runId,
              tenant: 'acme',
              requestId,
              input: { prompt: 'hello' },
              capability: { tools: ['noop'] },
              limits: {
                maxSteps: 5,
                maxToolCalls: 5,
                maxTokens: 10_000,
                deadlineAt: '2030-01-01T00:00:00.000Z',
              },
            },
            metadata: { eventId: uuidv7(), correlationId: runId, tenant: 'acme', producer: 'test' },
          },
        ]);
      }),
    );
  const stored = async () => (await jsm.streams.info(names.streams.events)).state.messages;
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('relays burst after burst without waiting for the poll', async () => {
    let expected = 0;
    for (const burst of [1, 25, 1, 10]) {
      await appendRuns(burst);
      expected += burst;
      await waitFor(async () => (await stored()) === expected, {
        description: `${expected} events on the stream`,
        timeoutMs: 10_000,
      });
      await pause(150); // idle: the relay is back to listening
    }
    expect(await stored()).toBe(expected);
  }, 30_000);
});

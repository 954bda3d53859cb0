import pino from 'pino';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { keelNames, runIdFor, uuidv7 } from '@keel/contracts';
import {
  appendToStream,
  checkpointAfter,
  saveCheckpoint,
  type RecordedEvent,
} from '@keel/event-store';
import { ensureStreams } from '@keel/messaging';
import { FastPublisher } from '@keel/runtime';
import { migratedTestSchema, testNamespace, waitFor, type TestSchema } from '@keel/testing';
import { Relay } from './relay';

const NATS_URL = process.env.KEEL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/**
 * The relay as the recovery path, against real PostgreSQL and NATS: events
 * their writer published after commit (the fast path) are found on the stream
 * and not sent again; events nobody published are sent once their grace is
 * over; a new leader learns what the stream already holds.
 */
describe('Relay (sends only what JetStream does not hold)', () => {
  const names = keelNames(testNamespace().prefix);
  let db: TestSchema;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let fast: FastPublisher;
  let relay: Relay;

  const newRelay = () =>
    new Relay({
      pool: db.pool,
      nc,
      js: nc.jetstream(),
      jsm,
      names,
      log: pino({ level: 'silent' }),
      schema: db.schema,
      batchSize: 1000,
      pollIntervalMs: 50,
      graceMs: 300,
      amnesiaCheckMs: 0,
    });

  beforeAll(async () => {
    db = await migratedTestSchema('rl');
    nc = await connect({ servers: NATS_URL, name: 'relay-int-test' });
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
    fast = new FastPublisher(nc, names, { owns: ['run'] });
    relay = newRelay();
    relay.start();
  });
  afterAll(async () => {
    await relay.stop();
    for (const s of Object.values(names.streams)) await jsm.streams.delete(s).catch(() => false);
    await nc.close();
    await db.drop();
  });

  const appendRuns = async (n: number): Promise<RecordedEvent[]> =>
    (
      await Promise.all(
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
              metadata: {
                eventId: uuidv7(),
                correlationId: runId,
                tenant: 'acme',
                producer: 'test',
              },
            },
          ]);
        }),
      )
    ).flatMap((r) => r.records);
  const stored = async () => (await jsm.streams.info(names.streams.events)).state.messages;
  /** Waits until the relay has settled `n` more events than `before`; returns what it did. */
  const settled = async (r: Relay, before: Relay['counts'], n: number) => {
    await waitFor(
      () => r.counts.sent + r.counts.alreadyHeld === before.sent + before.alreadyHeld + n,
      {
        description: `the relay settled ${n} events`,
        timeoutMs: 10_000,
      },
    );
    return {
      sent: r.counts.sent - before.sent,
      alreadyHeld: r.counts.alreadyHeld - before.alreadyHeld,
    };
  };

  it('sends the events nobody published, once their grace is over', async () => {
    const before = { ...relay.counts };
    const atStart = await stored();
    await appendRuns(12);
    await expect(settled(relay, before, 12)).resolves.toEqual({ sent: 12, alreadyHeld: 0 });
    await waitFor(async () => (await stored()) === atStart + 12, {
      description: '12 more events on the stream',
      timeoutMs: 5_000,
    });
  });

  it('does not send again what the writers published after commit', async () => {
    const before = { ...relay.counts };
    const atStart = await stored();
    const records = await appendRuns(20);
    // Half of them take the fast path; the other half's publish "was lost".
    fast.publish(records.filter((_, i) => i % 2 === 0));
    await expect(settled(relay, before, 20)).resolves.toEqual({ sent: 10, alreadyHeld: 10 });
    expect(await stored()).toBe(atStart + 20);
  });

  it('a new leader learns what the stream already holds', async () => {
    await relay.stop();
    const atStart = await stored();
    const records = await appendRuns(8);
    fast.publish(records);
    await waitFor(async () => (await stored()) === atStart + 8, {
      description: 'the fast path stored the events',
      timeoutMs: 5_000,
    });
    relay = newRelay();
    relay.start();
    // It also checks the last 30 s of the log again (the events of the tests above).
    await waitFor(() => relay.counts.alreadyHeld >= atStart + 8, {
      description: 'the new leader found every event on the stream',
      timeoutMs: 10_000,
    });
    expect(relay.counts.sent).toBe(0);
  });

  it('a new leader sends again what the stream lost after an earlier one settled it', async () => {
    await relay.stop();
    // An earlier leader settled these as "on the stream", then NATS lost them (a killed
    // server's unwritten tail): the saved checkpoint is past events the stream lacks.
    const lost = await appendRuns(5);
    await saveCheckpoint(db.pool, relay.checkpointName, checkpointAfter(lost.at(-1)!));
    const atStart = await stored();
    relay = newRelay();
    relay.start();
    await waitFor(() => relay.counts.sent === 5, {
      description: 'the 5 lost events sent again',
      timeoutMs: 10_000,
    });
    await waitFor(async () => (await stored()) === atStart + 5, {
      description: '5 more events on the stream',
      timeoutMs: 5_000,
    });
  });
});

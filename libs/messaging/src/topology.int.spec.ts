import type { KeelNames } from '@keel/contracts';
import { type JetStreamManager, type NatsConnection, RetentionPolicy, StorageType } from 'nats';
import { TopologyError, TopologyErrorCode } from './errors';
import { connectTest, deleteStreams, testNames } from './int-test-support';
import { ensureConsumer, ensureStream, ensureStreams, keelStreamSpecs } from './topology';

describe('topology', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const used: KeelNames[] = [];
  const fresh = () => {
    const n = testNames();
    used.push(n);
    return n;
  };

  beforeAll(async () => {
    nc = await connectTest();
    jsm = await nc.jetstreamManager();
  });

  afterAll(async () => {
    for (const n of used) await deleteStreams(jsm, n);
    await nc.close();
  });

  async function streamNamesWithPrefix(names: KeelNames): Promise<string[]> {
    const all = await jsm.streams.names().next();
    return all.filter((s) => (Object.values(names.streams) as string[]).includes(s));
  }

  it('declares the three streams, concurrently and twice, without error', async () => {
    const names = fresh();
    await Promise.all([
      ensureStreams(jsm, names),
      ensureStreams(jsm, names),
      ensureStreams(jsm, names),
    ]);
    await ensureStreams(jsm, names);

    expect((await streamNamesWithPrefix(names)).sort()).toEqual(
      Object.values(names.streams).sort(),
    );

    const ingress = await jsm.streams.info(names.streams.ingress);
    expect(ingress.config.subjects).toEqual([names.subjects.runRequest.pattern]);
    expect(ingress.config.retention).toBe(RetentionPolicy.Workqueue);
    expect(ingress.config.storage).toBe(StorageType.File);
    expect(ingress.config.duplicate_window).toBe(2 * 60 * 1e9);

    const events = await jsm.streams.info(names.streams.events);
    expect(events.config.subjects).toEqual([names.subjects.event.pattern]);
    expect(events.config.retention).toBe(RetentionPolicy.Limits);
    expect(events.config.max_age).toBe(7 * 24 * 3600 * 1e9);
    expect(events.config.deny_delete).toBe(true);
    expect(events.config.deny_purge).toBe(true);

    const dlq = await jsm.streams.info(names.streams.dlq);
    expect([...dlq.config.subjects].sort()).toEqual(
      [names.subjects.dlq.pattern, ...names.subjects.advisories].sort(),
    );
    expect(dlq.config.max_age).toBe(30 * 24 * 3600 * 1e9);
  });

  it('updates a stream whose config drifted, and never deletes it', async () => {
    const names = fresh();
    await ensureStreams(jsm, names);
    await jsm.streams.update(names.streams.events, { max_age: 3 * 24 * 3600 * 1e9 });
    await nc
      .jetstream()
      .publish(names.subjects.event.build('run', '_', 'Kept', 'r1'), new Uint8Array([1]));

    await ensureStreams(jsm, names);

    const events = await jsm.streams.info(names.streams.events);
    expect(events.config.max_age).toBe(7 * 24 * 3600 * 1e9);
    expect(events.state.messages).toBe(1);
  });

  it('refuses to change what JetStream cannot change in place', async () => {
    const names = fresh();
    const [ingress] = keelStreamSpecs(names);
    await jsm.streams.add({ ...ingress!, retention: RetentionPolicy.Limits });

    const err = await ensureStream(jsm, ingress!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopologyError);
    expect((err as TopologyError).code).toBe(TopologyErrorCode.CONFLICT);
  });

  it('declares a durable consumer concurrently and twice, and updates it when it differs', async () => {
    const names = fresh();
    await ensureStreams(jsm, names);
    const spec = {
      durable: 'budget-guard-run-events',
      filterSubject: names.subjects.runEvents.pattern,
      maxAckPending: 64,
      ackWaitMs: 30_000,
      maxDeliver: 5,
    };
    await Promise.all([
      ensureConsumer(jsm, names.streams.events, spec),
      ensureConsumer(jsm, names.streams.events, spec),
      ensureConsumer(jsm, names.streams.events, spec),
    ]);
    await ensureConsumer(jsm, names.streams.events, spec);

    const consumers = await jsm.consumers.list(names.streams.events).next();
    expect(consumers.map((c) => c.name)).toEqual([spec.durable]);
    const c = consumers[0]!.config;
    expect(c.ack_policy).toBe('explicit');
    expect(c.deliver_policy).toBe('all');
    expect(c.filter_subject).toBe(spec.filterSubject);
    expect(c.max_ack_pending).toBe(64);
    expect(c.ack_wait).toBe(30_000 * 1e6);
    expect(c.max_deliver).toBe(5);

    const updated = await ensureConsumer(jsm, names.streams.events, {
      ...spec,
      ackWaitMs: 10_000,
      maxDeliver: 7,
    });
    expect(updated.config.ack_wait).toBe(10_000 * 1e6);
    expect(updated.config.max_deliver).toBe(7);
  });
});

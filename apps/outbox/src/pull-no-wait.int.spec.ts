import {
  AckPolicy,
  connect,
  DeliverPolicy,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { testNamespace } from '@keel/testing';
import { pullNoWait } from './pull-no-wait';

const NATS_URL = process.env.KEEL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** The client's live subscriptions (nats.js internals: what `js.fetch` leaked one of per poll). */
function subscriptionCount(nc: NatsConnection): number {
  return (
    nc as unknown as { protocol: { subscriptions: { size(): number } } }
  ).protocol.subscriptions.size();
}

/** One no-wait pull at a time against a real JetStream consumer (headers only, no acks, as the relay's). */
describe('pullNoWait', () => {
  const stream = `${testNamespace().prefix.toUpperCase()}_PULL`;
  const subject = `${stream.toLowerCase()}.x`;
  const consumer = 'held';
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const pull = (batch: number, ids: string[] = [], c = consumer) =>
    pullNoWait(nc, { stream, consumer: c, batch, timeoutMs: 1000 }, (m) =>
      ids.push(m.headers?.get('Nats-Msg-Id') ?? '?'),
    );
  const publish = async (n: number, from: number) => {
    const js = nc.jetstream();
    for (let i = from; i < from + n; i++)
      await js.publish(subject, new Uint8Array(8), { msgID: `e${i}` });
  };

  beforeAll(async () => {
    nc = await connect({ servers: NATS_URL, name: 'pull-no-wait-test' });
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [subject] });
    await jsm.consumers.add(stream, {
      name: consumer,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      headers_only: true,
      mem_storage: true,
    });
  });
  afterAll(async () => {
    await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
  });

  it('answers at once with nothing, fewer than asked, or a full batch, in stream order', async () => {
    expect(await pull(10)).toBe(0); // 404: nothing there
    await publish(3, 0);
    const ids: string[] = [];
    expect(await pull(10, ids)).toBe(3); // 408 after the three: fewer than asked
    expect(ids).toEqual(['e0', 'e1', 'e2']);
    await publish(5, 3);
    const next: string[] = [];
    expect(await pull(2, next)).toBe(2); // a full batch: no status follows
    expect(await pull(10, next)).toBe(3);
    expect(next).toEqual(['e3', 'e4', 'e5', 'e6', 'e7']);
  });

  it('rejects with the reason a status gives, and unsubscribes', async () => {
    const before = subscriptionCount(nc);
    // JetStream caps a pull's batch at the consumer's max_request_batch: a 409 status.
    await jsm.consumers.add(stream, {
      name: 'capped',
      ack_policy: AckPolicy.None,
      max_batch: 5,
      mem_storage: true,
    });
    await expect(pull(10, [], 'capped')).rejects.toThrow(/pull from capped on .* failed: 409/);
    expect(subscriptionCount(nc)).toBe(before);
  });

  it('leaves no subscription behind, whatever ended the request', async () => {
    const before = subscriptionCount(nc);
    for (let i = 0; i < 20; i++) {
      await publish(2, 100 + i * 2);
      // Alternately a partial batch (408), a full one, and an empty poll (404).
      await pull(i % 2 === 0 ? 10 : 2);
      await pull(10);
    }
    expect(subscriptionCount(nc)).toBe(before);
  });

  it('gives up on a consumer that is not there (JetStream does not answer), and unsubscribes', async () => {
    const before = subscriptionCount(nc);
    await expect(pull(10, [], 'gone')).rejects.toThrow('no answer to a pull from gone in 1000 ms');
    expect(subscriptionCount(nc)).toBe(before);
  });
});

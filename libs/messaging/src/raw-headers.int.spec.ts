import { AckPolicy, createInbox, headers, JSONCodec, type Msg, type NatsConnection } from 'nats';
import { hasRawHeaders, rawHeaderValue, rawStatusCode } from './raw-headers';
import { connectTest, randomPrefix } from './int-test-support';

/** The next message on `subject` after `send()` runs. */
async function nextOn(nc: NatsConnection, subject: string, send: () => void): Promise<Msg> {
  const sub = nc.subscribe(subject, { max: 1 });
  send();
  for await (const m of sub) return m;
  throw new Error(`no message on ${subject}`);
}

describe('raw header reads (real NATS)', () => {
  let nc: NatsConnection;
  const prefix = randomPrefix();

  beforeAll(async () => {
    nc = await connectTest('raw-headers-int-test');
  });
  afterAll(async () => {
    await nc.jetstreamManager().then((jsm) => jsm.streams.delete(`${prefix}_S`).catch(() => false));
    await nc.close();
  });

  it('reads one header as nats.js decodes it, in any case, without decoding the others', async () => {
    const h = headers();
    h.set('Keel-Event-Type', 'ToolCallRequested');
    h.set('Nats-Msg-Id', '0b6a3b5e-3f0e-4a43-9d55-2f4f6c0b9f11');
    h.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00');
    const m = await nextOn(nc, `${prefix}.a`, () => nc.publish(`${prefix}.a`, 'x', { headers: h }));
    expect(hasRawHeaders(m)).toBe(true);
    expect(rawHeaderValue(m, 'Nats-Msg-Id')).toBe('0b6a3b5e-3f0e-4a43-9d55-2f4f6c0b9f11');
    expect(rawHeaderValue(m, 'nats-msg-id')).toBe('0b6a3b5e-3f0e-4a43-9d55-2f4f6c0b9f11');
    expect(rawHeaderValue(m, 'Keel-Event-Type')).toBe('ToolCallRequested');
    expect(rawHeaderValue(m, 'Nats-Msg')).toBeUndefined();
    expect(rawStatusCode(m)).toBe(0);
    // nats.js decodes the block on the first read of `headers` and keeps the result.
    expect((m as unknown as { _headers?: unknown })._headers).toBeUndefined();
    expect(rawHeaderValue(m, 'TRACEPARENT')).toBe(m.headers?.get('traceparent'));
  });

  it('a message without headers has none', async () => {
    const m = await nextOn(nc, `${prefix}.b`, () => nc.publish(`${prefix}.b`, 'x'));
    expect(rawHeaderValue(m, 'Nats-Msg-Id')).toBeUndefined();
    expect(rawStatusCode(m)).toBe(0);
  });

  it("reads a status message's code (JetStream's 404 to a no-wait pull on nothing)", async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: `${prefix}_S`, subjects: [`${prefix}.s.>`] });
    await jsm.consumers.add(`${prefix}_S`, { name: 'c', ack_policy: AckPolicy.None });
    const inbox = createInbox();
    const m = await nextOn(nc, inbox, () =>
      nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${prefix}_S.c`,
        JSONCodec().encode({ batch: 1, no_wait: true }),
        { reply: inbox },
      ),
    );
    expect(rawStatusCode(m)).toBe(404);
    expect(m.headers?.code).toBe(404);
  });
});

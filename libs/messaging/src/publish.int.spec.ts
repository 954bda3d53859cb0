import type { KeelNames } from '@keel/contracts';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { PublishError, PublishErrorCode } from './errors';
import { connectTest, decode, deleteStreams, readStream, testNames } from './int-test-support';
import { publishJson } from './publish';
import { ensureStreams } from './topology';

describe('publishJson', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let names: KeelNames;

  beforeAll(async () => {
    nc = await connectTest();
    js = nc.jetstream();
    jsm = await nc.jetstreamManager();
    names = testNames();
    await ensureStreams(jsm, names);
  });

  afterAll(async () => {
    await deleteStreams(jsm, names);
    await nc.close();
  });

  it('stores a message once when the same msgId is published twice', async () => {
    const subject = names.subjects.runRequest.build();
    const first = await publishJson(
      js,
      subject,
      { requestId: 'req-1' },
      { msgId: 'req-1', headers: { 'Keel-Run-Id': 'r1' } },
    );
    const second = await publishJson(js, subject, { requestId: 'req-1' }, { msgId: 'req-1' });

    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    const stored = await readStream(jsm, names.streams.ingress);
    expect(stored).toHaveLength(1);
    expect(JSON.parse(decode(stored[0]!.data))).toEqual({ requestId: 'req-1' });
    expect(stored[0]!.header.get('Nats-Msg-Id')).toBe('req-1');
    expect(stored[0]!.header.get('Keel-Run-Id')).toBe('r1');
  });

  it('sends bytes as they are', async () => {
    const subject = names.subjects.event.build('run', '_', 'Raw', 'r2');
    const ack = await publishJson(js, subject, new Uint8Array([0xff, 0x00, 0x01]), {
      msgId: 'raw-1',
    });
    const stored = await jsm.streams.getMessage(names.streams.events, { seq: ack.seq });
    expect([...stored.data]).toEqual([0xff, 0x00, 0x01]);
  });

  it('fails with NO_STREAM when no stream captures the subject', async () => {
    const err = await publishJson(
      js,
      `${names.prefix}.nowhere`,
      {},
      { msgId: 'x', timeoutMs: 2000 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect((err as PublishError).code).toBe(PublishErrorCode.NO_STREAM);
  });

  it('fails with EXPECTATION_FAILED when an expectation does not hold', async () => {
    const subject = names.subjects.event.build('run', '_', 'Expect', 'r3');
    const err = await publishJson(
      js,
      subject,
      {},
      { msgId: 'e-1', expect: { lastSequence: 999_999 } },
    ).catch((e: unknown) => e);
    expect((err as PublishError).code).toBe(PublishErrorCode.EXPECTATION_FAILED);
  });
});

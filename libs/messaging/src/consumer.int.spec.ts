import { DeadLetter, type KeelNames } from '@keel/contracts';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { z } from 'zod';
import { type ConsumerHandle, startConsumer, type StartConsumerOptions } from './consumer';
import { TerminalError } from './errors';
import type { InboundMessage, MessageHandler } from './inbound-message';
import {
  captureLogger,
  connectTest,
  decode,
  deleteStreams,
  encode,
  readStream,
  testNames,
  waitFor,
} from './int-test-support';
import { parseJson } from './parse-json';
import { publishJson } from './publish';
import { ensureConsumer, ensureStreams } from './topology';

const DURABLE = 'test-consumer';

describe('startConsumer', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const used: KeelNames[] = [];
  const handles: ConsumerHandle[] = [];

  beforeAll(async () => {
    nc = await connectTest();
    js = nc.jetstream();
    jsm = await nc.jetstreamManager();
  });

  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.stop()));
  });

  afterAll(async () => {
    for (const n of used) await deleteStreams(jsm, n);
    await nc.close();
  });

  /** A fresh deployment with a durable consumer on its events stream, and a running consumer loop. */
  async function setup(
    handler: MessageHandler,
    opts: Partial<Omit<StartConsumerOptions, 'handler'>> & { ackWaitMs?: number } = {},
  ) {
    const names = testNames();
    used.push(names);
    await ensureStreams(jsm, names);
    const maxDeliver = opts.maxDeliver ?? 3;
    await ensureConsumer(jsm, names.streams.events, {
      durable: DURABLE,
      filterSubject: names.subjects.event.pattern,
      maxAckPending: 1000,
      ackWaitMs: opts.ackWaitMs ?? 30_000,
      maxDeliver,
    });
    const logger = captureLogger();
    const handle = startConsumer({
      js,
      stream: names.streams.events,
      durable: DURABLE,
      concurrency: 4,
      names,
      logger,
      ...opts,
      maxDeliver,
      handler,
    });
    handles.push(handle);
    const subject = (type: string, runId = 'run-1') =>
      names.subjects.event.build('run', '_', type, runId);
    const publish = (
      type: string,
      payload: unknown,
      msgId: string,
      headers?: Record<string, string>,
    ) => publishJson(js, subject(type), payload, { msgId, ...(headers ? { headers } : {}) });
    const deadLetters = async () =>
      (await readStream(jsm, names.streams.dlq))
        .filter((m) => m.subject === names.subjects.dlq.build(DURABLE))
        .map((m) => DeadLetter.parse(JSON.parse(decode(m.data))));
    const consumerInfo = () => jsm.consumers.info(names.streams.events, DURABLE);
    /** True once every message has been delivered and settled: nothing can be (re)delivered any more. */
    const quiescent = async () => {
      const ci = await consumerInfo();
      return ci.num_pending === 0 && ci.num_ack_pending === 0;
    };
    return { names, handle, logger, publish, subject, deadLetters, consumerInfo, quiescent };
  }

  it('handles 200 messages once each with at most `concurrency` in flight', async () => {
    const seen = new Map<string, number>();
    let inFlight = 0;
    let maxInFlight = 0;
    const t = await setup(
      async (msg) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          await new Promise((r) => setTimeout(r, 2 + (msg.streamSequence % 5)));
          const { n } = parseJson(msg, z.object({ n: z.number() }));
          seen.set(String(n), (seen.get(String(n)) ?? 0) + 1);
          return { kind: 'ack' };
        } finally {
          inFlight -= 1;
        }
      },
      { concurrency: 8 },
    );

    await Promise.all(Array.from({ length: 200 }, (_, n) => t.publish('Counted', { n }, `m-${n}`)));

    await waitFor('200 messages handled', () => seen.size === 200);
    await waitFor('all acked', t.quiescent);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    expect(maxInFlight).toBeLessThanOrEqual(8);
    expect(maxInFlight).toBeGreaterThan(1);
    const ci = await t.consumerInfo();
    expect(ci.num_redelivered).toBe(0);
    expect(ci.delivered.stream_seq).toBe(200);
  });

  it('retries a failing message maxDeliver times, then dead-letters it once, while others flow', async () => {
    let poisonDeliveries = 0;
    const good = new Set<number>();
    const t = await setup(
      (msg) => {
        const body = JSON.parse(msg.text()) as { n?: number; poison?: boolean };
        if (body.poison) {
          poisonDeliveries += 1;
          throw new Error('downstream exploded');
        }
        good.add(body.n!);
        return { kind: 'ack' };
      },
      { maxDeliver: 3 },
    );
    const poisonPayload = { poison: true, secret: 'PAYLOAD-MARKER-42' };

    await t.publish('Poison', poisonPayload, 'poison-1', { 'Keel-Run-Id': 'run-p' });
    for (let n = 0; n < 20; n++) await t.publish('Good', { n }, `good-${n}`);

    const [dl] = await waitFor('a dead letter', async () => {
      const d = await t.deadLetters();
      return d.length > 0 ? d : undefined;
    });
    await waitFor('all settled', t.quiescent);
    await waitFor('20 good messages', () => good.size === 20);

    expect(poisonDeliveries).toBe(3);
    expect(await t.deadLetters()).toHaveLength(1);
    expect(dl!.code).toBe('HANDLER_FAILED');
    expect(dl!.reason).toContain('downstream exploded');
    expect(dl!.deliveries).toBe(3);
    expect(dl!.consumer).toBe(DURABLE);
    expect(dl!.stream).toBe(t.names.streams.events);
    expect(dl!.subject).toBe(t.subject('Poison'));
    expect(dl!.runId).toBe('run-p');
    expect(dl!.headers['Nats-Msg-Id']).toBe('poison-1');
    expect(JSON.parse(Buffer.from(dl!.payloadBase64, 'base64').toString('utf8'))).toEqual(
      poisonPayload,
    );

    // JetStream's own MSG_TERMINATED advisory for the same message lands in the DLQ stream.
    const advisory = await waitFor('a MSG_TERMINATED advisory', async () =>
      (await readStream(jsm, t.names.streams.dlq)).find((m) =>
        m.subject.startsWith(
          `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${t.names.streams.events}.${DURABLE}`,
        ),
      ),
    );
    expect((JSON.parse(decode(advisory.data)) as { stream_seq: number }).stream_seq).toBe(
      dl!.streamSequence,
    );

    // Payloads never reach the logs.
    expect(JSON.stringify(t.logger.entries)).not.toContain('PAYLOAD-MARKER-42');
  });

  it('dead-letters non-JSON and schema-invalid messages at once and keeps going', async () => {
    const Schema = z.object({ runId: z.string().uuid(), n: z.number().int() });
    const handled: number[] = [];
    const t = await setup((msg) => {
      handled.push(parseJson(msg, Schema).n);
      return { kind: 'ack' };
    });

    await t.publish('NotJson', encode('{this is not json'), 'bad-json');
    await t.publish('WrongShape', { runId: 'nope', n: 'one' }, 'bad-schema');
    await t.publish('Fine', { runId: '6f1c2b7e-8a8e-4b0a-9f5e-0c3a1d2b4e5f', n: 7 }, 'fine');

    await waitFor('two dead letters', async () => (await t.deadLetters()).length === 2);
    await waitFor('all settled', t.quiescent);
    const byCode = new Map((await t.deadLetters()).map((d) => [d.code, d]));
    expect([...byCode.keys()].sort()).toEqual(['INVALID_JSON', 'SCHEMA_INVALID']);
    expect(byCode.get('INVALID_JSON')!.deliveries).toBe(1);
    expect(Buffer.from(byCode.get('INVALID_JSON')!.payloadBase64, 'base64').toString()).toBe(
      '{this is not json',
    );
    expect(byCode.get('SCHEMA_INVALID')!.reason).toMatch(/runId/);
    expect(byCode.get('SCHEMA_INVALID')!.reason).toMatch(/n:/);
    expect(handled).toEqual([7]);
  });

  it('dead-letters a TerminalError with its code, and a term disposition likewise', async () => {
    const t = await setup((msg) => {
      if (msg.subject.includes('.Throw.'))
        throw new TerminalError('UNEXPECTED_EVENT', 'not for this consumer');
      return { kind: 'term', code: 'REJECTED', reason: 'handler said no' };
    });
    await t.publish('Throw', {}, 't-1');
    await t.publish('Return', {}, 't-2');
    await waitFor('two dead letters', async () => (await t.deadLetters()).length === 2);
    await waitFor('all settled', t.quiescent);
    const codes = (await t.deadLetters()).map((d) => `${d.code}:${d.reason}`).sort();
    expect(codes).toEqual(['REJECTED:handler said no', 'UNEXPECTED_EVENT:not for this consumer']);
  });

  it('dead-letters an oversize message as TOO_LARGE without calling the handler', async () => {
    const calledFor: string[] = [];
    const t = await setup(
      (msg) => {
        calledFor.push(msg.subject);
        return { kind: 'ack' };
      },
      { maxPayloadBytes: 1024 },
    );
    await t.publish('Big', { blob: 'x'.repeat(4096) }, 'big-1');
    await t.publish('Small', { ok: true }, 'small-1');

    const [dl] = await waitFor('a dead letter', async () => {
      const d = await t.deadLetters();
      return d.length > 0 ? d : undefined;
    });
    await waitFor('all settled', t.quiescent);
    expect(dl!.code).toBe('TOO_LARGE');
    expect(dl!.payloadBytes).toBeGreaterThan(4096);
    expect(calledFor).toEqual([t.subject('Small')]);
  });

  it('keeps a slow handler’s message with heartbeats: delivered exactly once', async () => {
    let deliveries = 0;
    let done = false;
    const t = await setup(
      async () => {
        deliveries += 1;
        await new Promise((r) => setTimeout(r, 2500));
        done = true;
        return { kind: 'ack' };
      },
      { ackWaitMs: 1000 },
    );
    await t.publish('Slow', {}, 'slow-1');

    await waitFor('slow handler done', () => done);
    await waitFor('acked', t.quiescent);
    expect(deliveries).toBe(1);
    expect((await t.consumerInfo()).num_redelivered).toBe(0);
  });

  it('naks with the requested delay and redelivers', async () => {
    const deliveries: number[] = [];
    const t = await setup((msg: InboundMessage) => {
      deliveries.push(msg.deliveries);
      return msg.deliveries < 2 ? { kind: 'nak', delayMs: 50 } : { kind: 'ack' };
    });
    await t.publish('Again', {}, 'again-1');
    await waitFor(
      'acked on 2nd delivery',
      async () => deliveries.length === 2 && (await t.quiescent()),
    );
    expect(deliveries).toEqual([1, 2]);
    expect(await t.deadLetters()).toHaveLength(0);
  });

  it('survives its consumer being deleted and recreated: logs, backs off, resumes', async () => {
    const handled: string[] = [];
    const t = await setup((msg) => {
      handled.push(msg.msgId ?? '?');
      return { kind: 'ack' };
    });
    await t.publish('Before', {}, 'before-1');
    await waitFor('first message', () => handled.length === 1);

    await jsm.consumers.delete(t.names.streams.events, DURABLE);
    await waitFor('pull failure logged', () =>
      t.logger.entries.some((e) => e.msg === 'consumer pull failed; retrying'),
    );
    await t.publish('After', {}, 'after-1');
    await ensureConsumer(jsm, t.names.streams.events, {
      durable: DURABLE,
      filterSubject: t.names.subjects.event.pattern,
      maxAckPending: 1000,
      ackWaitMs: 30_000,
      maxDeliver: 3,
    });

    // The recreated consumer delivers the whole stream again (deliver all): at-least-once.
    await waitFor('message after recreation', () => handled.includes('after-1'), {
      timeoutMs: 30_000,
    });
    await waitFor('all settled', t.quiescent);
  });

  it('stop() waits for an in-flight handler to settle its message', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const events: string[] = [];
    let entered = false;
    const t = await setup(async () => {
      entered = true;
      await gate;
      events.push('handler done');
      return { kind: 'ack' };
    });
    await t.publish('Held', {}, 'held-1');
    await waitFor('handler entered', () => entered);

    let stopped = false;
    const stopping = t.handle.stop().then(() => {
      stopped = true;
      events.push('stopped');
    });
    await waitFor('pull loop exited', () =>
      t.logger.entries.some((e) => e.msg.startsWith('consumer stopping')),
    );
    expect(stopped).toBe(false);

    release();
    await stopping;
    expect(events).toEqual(['handler done', 'stopped']);
    await waitFor('the message acked', t.quiescent);
    expect((await t.consumerInfo()).num_redelivered).toBe(0);
  });
});

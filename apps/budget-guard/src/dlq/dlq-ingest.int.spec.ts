import { randomBytes } from 'node:crypto';
import {
  connect,
  headers as natsHeaders,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { Pool } from 'pg';
import { keelNames, runIdFor, type KeelNames } from '@keel/contracts';
import { getDlqEntry, listDlqEntries, type DlqEntry } from '@keel/dlq';
import { createPool, migrate } from '@keel/event-store';
import {
  buildDeadLetter,
  ensureConsumer,
  ensureStreams,
  publishDeadLetter,
  startConsumer,
  TerminalError,
  type ConsumerHandle,
  type MessagingLogger,
} from '@keel/messaging';
import { budgetGuardConsumers } from '@keel/runtime';
import { waitFor } from '@keel/testing';
import { dlqIngestHandler } from './dlq-ingest.handler';

const DATABASE_URL =
  process.env.KEEL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.KEEL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

jest.setTimeout(30_000);

const silent: MessagingLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * The budget guard's DLQ ingestion against a real DLQ stream (with JetStream's
 * own advisories captured into it) and a real `dead_letters` table.
 */
describe('DLQ ingestion', () => {
  const id = randomBytes(5).toString('hex');
  const schema = `dlqi_${id}`;
  const names: KeelNames = keelNames(`t${id}`);
  const handles: ConsumerHandle[] = [];
  let pool: Pool;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    pool = createPool({ connectionString: DATABASE_URL, schema, max: 4 });
    await migrate(pool, schema);
    nc = await connect({ servers: NATS_URL, name: 'dlq-ingest-int-test' });
    js = nc.jetstream();
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
    const spec = budgetGuardConsumers(names).dlqIngest;
    await ensureConsumer(jsm, spec.stream, spec);
    handles.push(
      startConsumer({
        js,
        names,
        logger: silent,
        ...spec,
        concurrency: 4,
        pullExpiresMs: 1000,
        handler: dlqIngestHandler({ pool, jsm, names, log: silent }),
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
    for (const s of Object.values(names.streams)) await jsm?.streams.delete(s).catch(() => false);
    await nc?.close();
    await pool?.end();
    const admin = new Pool({ connectionString: DATABASE_URL, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  /** Every entry of `consumer`, oldest first, once there are `n`. */
  const entriesOf = (consumer: string, n: number) =>
    waitFor(
      async () => {
        const all = await listDlqEntries(pool, { status: 'all', consumer, limit: 100 });
        // In DLQ stream order: the ingestion consumer handles entries concurrently, so row ids
        // need not follow it.
        return all.length >= n ? all.sort((a, b) => a.dlqStreamSeq - b.dlqStreamSeq) : undefined;
      },
      { timeoutMs: 15_000, description: `${n} dead_letters rows of ${consumer}` },
    );
  const full = async (entryId: number): Promise<DlqEntry> => (await getDlqEntry(pool, entryId))!;

  it("records a consumer's dead letter with every field", async () => {
    const dl = buildDeadLetter(
      {
        consumer: 'int-dead-letter',
        stream: names.streams.events,
        subject: names.subjects.event.build('run', '_', 'RunRequested', 'run-7'),
        streamSequence: 42,
        deliveries: 3,
        data: new TextEncoder().encode('{"type":"RunRequested"}'),
        headers: { 'Nats-Msg-Id': 'evt-1', 'Keel-Run-Id': 'run-7', traceparent: TRACEPARENT },
      },
      'HANDLER_FAILED',
      'Error: boom',
      TRACE_ID,
      new Date('2030-01-02T03:04:05.000Z'),
    );
    await publishDeadLetter(js, names, dl);
    const [row] = await entriesOf('int-dead-letter', 1);
    expect(await full(row!.id)).toMatchObject({
      kind: 'dead_letter',
      consumer: 'int-dead-letter',
      stream: names.streams.events,
      subject: dl.subject,
      streamSeq: 42,
      deliveries: 3,
      code: 'HANDLER_FAILED',
      reason: 'Error: boom',
      runId: 'run-7',
      traceId: TRACE_ID,
      payload: new Uint8Array(Buffer.from('{"type":"RunRequested"}')),
      payloadBytes: 23,
      headers: dl.headers,
      deadLetteredAt: new Date('2030-01-02T03:04:05.000Z'),
      status: 'open',
      duplicateOf: null,
    });
  });

  it('records a MAX_DELIVERIES advisory with the original read from its stream (a run request: its run id derived)', async () => {
    const durable = 'int-max-deliveries';
    await ensureConsumer(jsm, names.streams.ingress, {
      durable,
      filterSubject: names.subjects.runRequest.pattern,
      ackWaitMs: 30_000,
      maxDeliver: 2,
      maxAckPending: 10,
    });
    const request = { requestId: `req-${id}`, tenant: 'acme', input: { prompt: 'hi' } };
    const h = natsHeaders();
    h.set('traceparent', TRACEPARENT);
    const ack = await js.publish(
      names.subjects.runRequest.build(),
      new TextEncoder().encode(JSON.stringify(request)),
      { msgID: request.requestId, headers: h },
    );
    const consumer = await js.consumers.get(names.streams.ingress, durable);
    for (let i = 0; i < 2; i++) (await consumer.next({ expires: 5_000 }))!.nak();
    // The server notices the exhausted message (and publishes the advisory) when it next
    // looks for something to deliver: a live consumer always has a pull waiting.
    expect(await consumer.next({ expires: 1_000 })).toBeNull();

    const [row] = await entriesOf(durable, 1);
    expect(await full(row!.id)).toMatchObject({
      kind: 'max_deliveries',
      code: 'MAX_DELIVERIES',
      consumer: durable,
      stream: names.streams.ingress,
      subject: names.subjects.runRequest.build(),
      streamSeq: ack.seq,
      deliveries: 2,
      runId: runIdFor('acme', request.requestId),
      traceId: TRACE_ID,
      payload: new Uint8Array(Buffer.from(JSON.stringify(request))),
      headers: { 'Nats-Msg-Id': request.requestId, traceparent: TRACEPARENT },
      status: 'open',
    });
    expect(row!.reason).toMatch(/max_deliver reached/);
  });

  it("records the TERMINATED advisory of a message a consumer dead-lettered as a duplicate of the consumer's entry", async () => {
    const durable = 'int-terminates';
    const subject = names.subjects.event.build('run', '_', 'IntTest', 'run-9');
    await ensureConsumer(jsm, names.streams.events, {
      durable,
      filterSubject: subject,
      ackWaitMs: 30_000,
      maxDeliver: 5,
      maxAckPending: 10,
    });
    handles.push(
      startConsumer({
        js,
        names,
        logger: silent,
        stream: names.streams.events,
        durable,
        concurrency: 1,
        maxDeliver: 5,
        pullExpiresMs: 1000,
        handler: () => {
          throw new TerminalError('INT_REJECTED', 'the test handler rejects everything');
        },
      }),
    );
    const h = natsHeaders();
    h.set('Keel-Run-Id', 'run-9');
    h.set('traceparent', TRACEPARENT);
    const ack = await js.publish(subject, new TextEncoder().encode('{"x":1}'), {
      msgID: `evt-${id}`,
      headers: h,
    });

    const rows = await entriesOf(durable, 2);
    const dead = rows.find((r) => r.kind === 'dead_letter')!;
    const terminated = rows.find((r) => r.kind === 'terminated')!;
    expect(dead).toMatchObject({
      code: 'INT_REJECTED',
      streamSeq: ack.seq,
      runId: 'run-9',
      status: 'open',
      duplicateOf: null,
    });
    expect(terminated).toMatchObject({
      code: 'TERMINATED',
      stream: names.streams.events,
      streamSeq: ack.seq,
      // The events stream keeps the original: read back from it.
      subject,
      runId: 'run-9',
      payloadBytes: 7,
      status: 'discarded',
      duplicateOf: dead.id,
      resolutionNote: `duplicate of #${dead.id}`,
    });
    // One failure shows once in the default (open) listing.
    expect((await listDlqEntries(pool, { consumer: durable })).map((r) => [r.id, r.code])).toEqual([
      [dead.id, 'INT_REJECTED'],
    ]);
  });

  it('stores garbage in the DLQ stream as UNREADABLE and keeps ingesting', async () => {
    const consumer = 'int-garbage';
    const subject = names.subjects.dlq.build(consumer);
    await js.publish(subject, new Uint8Array([0x7b, 0xff, 0x00, 0x6e]), { msgID: `g1-${id}` });
    await js.publish(subject, new TextEncoder().encode('{"hello":"world"}'), {
      msgID: `g2-${id}`,
    });
    await js.publish(
      subject,
      new TextEncoder().encode('{"type":"io.nats.jetstream.advisory.v1.max_deliver"}'),
      { msgID: `g3-${id}` },
    );
    // A good entry behind the garbage is still ingested.
    await publishDeadLetter(
      js,
      names,
      buildDeadLetter(
        {
          consumer,
          stream: names.streams.events,
          subject: 'x',
          streamSequence: 1,
          deliveries: 1,
          data: new Uint8Array(),
          headers: {},
        },
        'AFTER_GARBAGE',
        'still ingested',
      ),
    );
    const rows = await entriesOf(consumer, 4);
    expect(rows.map((r) => r.code)).toEqual([
      'UNREADABLE',
      'UNREADABLE',
      'UNREADABLE',
      'AFTER_GARBAGE',
    ]);
    expect(rows[0]).toMatchObject({
      kind: 'dead_letter',
      consumer,
      stream: null,
      subject: null,
      status: 'open',
      payloadBytes: 4,
    });
    expect(rows[0]!.reason).toMatch(/not JSON/);
    expect(rows[1]!.reason).toMatch(/neither a dead letter nor a JetStream advisory/);
    expect(rows[2]!.reason).toMatch(/advisory Keel does not read/);
    expect((await full(rows[0]!.id)).payload).toEqual(new Uint8Array([0x7b, 0xff, 0x00, 0x6e]));
  });

  it('ingesting one DLQ entry twice records it once', async () => {
    const handler = dlqIngestHandler({ pool, jsm, names, log: silent });
    const msg = {
      subject: names.subjects.dlq.build('int-twice'),
      data: new TextEncoder().encode('garbage'),
      headers: {},
      streamSequence: 9_000_000,
      deliveries: 1,
      text: () => 'garbage',
      working: () => undefined,
    };
    expect(await handler(msg)).toEqual({ kind: 'ack' });
    expect(await handler({ ...msg, deliveries: 2 })).toEqual({ kind: 'ack' });
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM dead_letters WHERE dlq_stream_seq = 9000000',
    );
    expect(rows[0]?.n).toBe(1);
  });
});

import { randomBytes } from 'node:crypto';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { Pool } from 'pg';
import { keelNames, type KeelNames } from '@keel/contracts';
import { createPool, migrate } from '@keel/event-store';
import { ensureStreams, headersToRecord } from '@keel/messaging';
import type { NewDlqEntry } from './entry';
import { DlqError, DlqErrorCode } from './errors';
import { discardEntry, listEntries, redriveEntry, REDRIVE_HEADER, showEntry } from './operations';
import { getDlqEntry, recordDlqEntry } from './store';

const DATABASE_URL =
  process.env.KEEL_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.KEEL_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('dead_letters: recording, listing, redrive and discard', () => {
  const id = randomBytes(5).toString('hex');
  const schema = `dlq_${id}`;
  const names: KeelNames = keelNames(`t${id}`);
  let pool: Pool;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let dlqSeq = 0;

  beforeAll(async () => {
    pool = createPool({ connectionString: DATABASE_URL, schema, max: 4 });
    await migrate(pool, schema);
    nc = await connect({ servers: NATS_URL, name: 'dlq-int-test' });
    jsm = await nc.jetstreamManager();
    await ensureStreams(jsm, names);
  });

  afterAll(async () => {
    for (const s of Object.values(names.streams)) await jsm?.streams.delete(s).catch(() => false);
    await nc?.close();
    await pool?.end();
    const admin = new Pool({ connectionString: DATABASE_URL, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  const entry = (over: Partial<NewDlqEntry> = {}): NewDlqEntry => ({
    dlqStreamSeq: ++dlqSeq,
    kind: 'dead_letter',
    consumer: names.consumers.plannerIngress,
    stream: names.streams.ingress,
    subject: names.subjects.runRequest.build(),
    streamSeq: 1000 + dlqSeq,
    deliveries: 1,
    code: 'SCHEMA_INVALID',
    reason: 'tenant: lowercase letters',
    runId: null,
    traceId: null,
    payload: new TextEncoder().encode('{"requestId":"r-1"}'),
    headers: { 'Nats-Msg-Id': 'r-1', traceparent: TRACEPARENT },
    deadLetteredAt: new Date(),
    ...over,
  });

  describe('recordDlqEntry', () => {
    it('records an entry once per DLQ stream sequence', async () => {
      const e = entry();
      const first = await recordDlqEntry(pool, e);
      const again = await recordDlqEntry(pool, e);
      expect(first).toMatchObject({ inserted: true, duplicateOf: null });
      expect(again).toEqual({ id: first.id, inserted: false, duplicateOf: null, superseded: [] });
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM dead_letters WHERE dlq_stream_seq = $1',
        [e.dlqStreamSeq],
      );
      expect(rows[0]?.n).toBe(1);
    });

    it('a TERMINATED advisory after its dead letter is recorded as a discarded duplicate', async () => {
      const dl = entry({ streamSeq: 5001 });
      const advisory = entry({
        kind: 'terminated',
        code: 'TERMINATED',
        streamSeq: 5001,
        payload: null,
        subject: null,
        headers: {},
      });
      const a = await recordDlqEntry(pool, dl);
      const b = await recordDlqEntry(pool, advisory);
      expect(b.duplicateOf).toBe(a.id);
      const row = await getDlqEntry(pool, b.id);
      expect(row).toMatchObject({
        status: 'discarded',
        duplicateOf: a.id,
        resolvedBy: 'dlq-ingest',
        resolutionNote: `duplicate of #${a.id}`,
      });
      expect((await getDlqEntry(pool, a.id))?.status).toBe('open');
    });

    it('an open advisory ingested before its dead letter is superseded by it', async () => {
      const advisory = entry({ kind: 'terminated', code: 'TERMINATED', streamSeq: 5002 });
      const dl = entry({ streamSeq: 5002 });
      const a = await recordDlqEntry(pool, advisory);
      const b = await recordDlqEntry(pool, dl);
      expect(b).toMatchObject({ inserted: true, duplicateOf: null, superseded: [a.id] });
      expect(await getDlqEntry(pool, a.id)).toMatchObject({
        status: 'discarded',
        duplicateOf: b.id,
        resolutionNote: `duplicate of #${b.id}`,
      });
      expect((await getDlqEntry(pool, b.id))?.status).toBe('open');
    });

    it('the same origin failing far apart in time is two failures (e.g. a recreated stream)', async () => {
      const old = entry({ streamSeq: 5003, deadLetteredAt: new Date(Date.now() - 3 * 3600_000) });
      const now = entry({ streamSeq: 5003 });
      await recordDlqEntry(pool, old);
      expect((await recordDlqEntry(pool, now)).duplicateOf).toBeNull();
    });
  });

  describe('listEntries and showEntry', () => {
    const run = `run-${id}`;
    let ids: number[];

    beforeAll(async () => {
      ids = [];
      for (const e of [
        entry({ code: 'LIST_A', runId: run, consumer: 'c-list-1' }),
        entry({ code: 'LIST_B', runId: run, consumer: 'c-list-2' }),
        entry({ code: 'LIST_A', consumer: 'c-list-2' }),
      ])
        ids.push((await recordDlqEntry(pool, e)).id);
    });

    it('filters by code, run and consumer, newest first, limited', async () => {
      expect((await listEntries(pool, { code: 'LIST_A' })).map((e) => e.id)).toEqual([
        ids[2],
        ids[0],
      ]);
      expect((await listEntries(pool, { runId: run })).map((e) => e.id)).toEqual([ids[1], ids[0]]);
      expect(
        (await listEntries(pool, { consumer: 'c-list-2', code: 'LIST_A' })).map((e) => e.id),
      ).toEqual([ids[2]]);
      expect((await listEntries(pool, { code: 'LIST_A', limit: 1 })).map((e) => e.id)).toEqual([
        ids[2],
      ]);
      const [first] = await listEntries(pool, { code: 'LIST_B' });
      expect(first).toMatchObject({ payloadBytes: 19, status: 'open', redriveCount: 0 });
      expect(first).not.toHaveProperty('payload');
    });

    it('filters by status: open by default, or all', async () => {
      await discardEntry(pool, ids[0]!, { by: 'test', reason: 'listing' });
      expect((await listEntries(pool, { code: 'LIST_A' })).map((e) => e.id)).toEqual([ids[2]]);
      expect(
        (await listEntries(pool, { code: 'LIST_A', status: 'discarded' })).map((e) => e.id),
      ).toEqual([ids[0]]);
      expect((await listEntries(pool, { code: 'LIST_A', status: 'all' })).map((e) => e.id)).toEqual(
        [ids[2], ids[0]],
      );
    });

    it('shows an entry with its payload decoded', async () => {
      const shown = await showEntry(pool, ids[1]!);
      expect(shown).toMatchObject({
        id: ids[1],
        code: 'LIST_B',
        runId: run,
        headers: { 'Nats-Msg-Id': 'r-1', traceparent: TRACEPARENT },
        payload: { encoding: 'json', json: { requestId: 'r-1' }, bytes: 19 },
      });
      await expect(showEntry(pool, 999_999)).rejects.toMatchObject({
        code: DlqErrorCode.NOT_FOUND,
      });
    });
  });

  describe('redriveEntry', () => {
    it('publishes the original to its subject with its headers and a new Nats-Msg-Id, and marks the entry', async () => {
      const payload = new TextEncoder().encode('{"requestId":"redrive-me"}');
      const { id: entryId } = await recordDlqEntry(
        pool,
        entry({
          payload,
          headers: {
            'Nats-Msg-Id': 'redrive-me',
            traceparent: TRACEPARENT,
            'Nats-Expected-Last-Sequence': '3',
            'X-Custom': 'kept',
          },
        }),
      );
      const js = nc.jetstream();
      const r = await redriveEntry({ pool, js }, entryId, { by: 'alice', note: 'fixed upstream' });
      expect(r).toMatchObject({
        id: entryId,
        redriveCount: 1,
        stream: names.streams.ingress,
        msgId: `redrive:${entryId}:1`,
        duplicate: false,
      });
      const copy = await jsm.streams.getMessage(names.streams.ingress, { seq: r.seq });
      expect(copy.subject).toBe(names.subjects.runRequest.build());
      expect(Buffer.from(copy.data)).toEqual(Buffer.from(payload));
      expect(headersToRecord(copy.header)).toEqual({
        'Nats-Msg-Id': `redrive:${entryId}:1`,
        traceparent: TRACEPARENT,
        'X-Custom': 'kept',
        [REDRIVE_HEADER]: `${entryId}:1`,
        // The redrive's own expectation: the copy must land in the original stream.
        'Nats-Expected-Stream': names.streams.ingress,
      });
      expect(await getDlqEntry(pool, entryId)).toMatchObject({
        status: 'redriven',
        redriveCount: 1,
        resolvedBy: 'alice',
        resolutionNote: 'fixed upstream',
      });

      const second = await redriveEntry({ pool, js }, entryId, { by: 'bob' });
      expect(second).toMatchObject({ redriveCount: 2, msgId: `redrive:${entryId}:2` });
      expect(second.seq).toBeGreaterThan(r.seq);
      expect(await getDlqEntry(pool, entryId)).toMatchObject({
        redriveCount: 2,
        resolvedBy: 'bob',
        resolutionNote: `redriven as redrive:${entryId}:2 (${names.streams.ingress} seq ${second.seq})`,
      });
    });

    it('refuses an entry without a payload, a discarded one, an unreadable one and an unknown id', async () => {
      const js = nc.jetstream();
      const refusal = (id: number) =>
        redriveEntry({ pool, js }, id, { by: 't' }).then(
          () => undefined,
          (e: unknown) => e as DlqError,
        );
      const noPayload = await recordDlqEntry(
        pool,
        entry({ payload: null, kind: 'max_deliveries' }),
      );
      const discarded = await recordDlqEntry(pool, entry());
      await discardEntry(pool, discarded.id, { by: 't', reason: 'not wanted' });
      const unreadable = await recordDlqEntry(
        pool,
        entry({ code: 'UNREADABLE', stream: null, subject: null, streamSeq: null }),
      );
      for (const [id, code, message] of [
        [noPayload.id, DlqErrorCode.REFUSED, /has no payload/],
        [discarded.id, DlqErrorCode.REFUSED, /is discarded/],
        [unreadable.id, DlqErrorCode.REFUSED, /no original subject/],
        [999_999, DlqErrorCode.NOT_FOUND, /not found/],
      ] as const) {
        const err = await refusal(id);
        expect(err).toBeInstanceOf(DlqError);
        expect(err?.code).toBe(code);
        expect(err?.message).toMatch(message);
      }
      // Nothing was marked.
      expect(await getDlqEntry(pool, noPayload.id)).toMatchObject({
        status: 'open',
        redriveCount: 0,
      });
    });

    it('marks nothing when the publish fails', async () => {
      const e = await recordDlqEntry(pool, entry({ subject: `${names.prefix}.nowhere` }));
      await expect(
        redriveEntry({ pool, js: nc.jetstream() }, e.id, { by: 't' }),
      ).rejects.toMatchObject({ code: DlqErrorCode.PUBLISH_FAILED });
      expect(await getDlqEntry(pool, e.id)).toMatchObject({ status: 'open', redriveCount: 0 });
    });
  });

  describe('discardEntry', () => {
    it('needs a reason, records who and why, and refuses a second discard', async () => {
      const e = await recordDlqEntry(pool, entry());
      await expect(discardEntry(pool, e.id, { by: 't', reason: '  ' })).rejects.toMatchObject({
        code: DlqErrorCode.INVALID_ARGUMENT,
      });
      const d = await discardEntry(pool, e.id, { by: 'carol', reason: 'test data' });
      expect(d).toMatchObject({
        id: e.id,
        status: 'discarded',
        resolvedBy: 'carol',
        resolutionNote: 'test data',
      });
      expect(d.resolvedAt).toBeInstanceOf(Date);
      await expect(discardEntry(pool, e.id, { by: 't', reason: 'again' })).rejects.toMatchObject({
        code: DlqErrorCode.REFUSED,
      });
      await expect(discardEntry(pool, 999_999, { by: 't', reason: 'x' })).rejects.toMatchObject({
        code: DlqErrorCode.NOT_FOUND,
      });
    });
  });
});

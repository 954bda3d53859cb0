import { Pool, type PoolClient } from 'pg';
import { streamIds, uuidv7, type EventMetadata } from '@keel/contracts';
import { appendToStream, streamVersion } from '@keel/event-store';
import { waitFor } from '@keel/testing';
import { DATABASE_URL, startStack, type KeelStack } from '../support/stack';

jest.setTimeout(180_000);

const WRITERS = 16;
const TXS_PER_WRITER = 30;

/**
 * The relay never skips a late-committing transaction and never duplicates in
 * the consumer's view, while it is killed (-9) and restarted mid-stream, with
 * a standby replica waiting to take over.
 * A naive `global_position > cursor` reader runs alongside and is shown to
 * miss events, so this test can fail: it is the regression test for the bug
 * the xid-horizon relay avoids.
 */
describe('outbox relay under concurrent writers and kill -9', () => {
  let stack: KeelStack;
  let pool: Pool; // enough connections for every writer plus the naive reader
  beforeAll(async () => {
    stack = await startStack({ services: ['outbox'] });
    // A hot standby: it must stay idle while the leader lives and take over when it dies;
    // two relays publishing at once would break per-stream order, which this test checks.
    await stack.start('outbox', 'outbox-standby');
    pool = new Pool({
      connectionString: DATABASE_URL,
      max: WRITERS + 4,
      options: `-c search_path=${stack.ns.schema}`,
    });
  });
  let stopNaive: () => Promise<void> = () => Promise.resolve();
  afterAll(async () => {
    await stopNaive();
    await pool?.end();
    await stack?.stop();
  });

  it('publishes every committed event exactly once, in per-stream order', async () => {
    const naive = naiveReader(pool);
    stopNaive = naive.stop;
    let writing = true;
    const killer = (async () => {
      // Kill the relay at random points while writers are busy, then restart it.
      for (let i = 0; i < 3 && writing; i++) {
        await sleep(300 + Math.random() * 700);
        const relay = stack.services.get('outbox')!;
        relay.kill('SIGKILL');
        await relay.exited;
        await stack.start('outbox');
      }
    })();

    const writers = Array.from({ length: WRITERS }, (_, w) => writer(pool, w));
    await Promise.all([...writers, lateCommitCase(pool, naive)]);
    writing = false;
    await killer;

    const { rows } = await pool.query<{
      event_id: string;
      stream_id: string;
      stream_version: number;
    }>('SELECT event_id, stream_id, stream_version FROM events ORDER BY global_position');
    expect(rows.length).toBeGreaterThan(WRITERS * TXS_PER_WRITER);

    const published = await waitFor(
      async () => {
        const info = await stack.jsm.streams.info(stack.names.streams.events);
        return info.state.messages >= rows.length ? info : undefined;
      },
      { timeoutMs: 60_000, description: `all ${rows.length} events on JetStream` },
    );
    // Read the whole stream as a consumer sees it.
    const seen: { eventId: string; streamId: string; version: number }[] = [];
    for (let seq = published.state.first_seq; seq <= published.state.last_seq; seq++) {
      const m = await stack.jsm.streams.getMessage(stack.names.streams.events, { seq });
      const e = m.json<{
        streamId: string;
        streamVersion: number;
        metadata: { eventId: string };
      }>();
      seen.push({ eventId: e.metadata.eventId, streamId: e.streamId, version: e.streamVersion });
    }
    const ids = seen.map((s) => s.eventId);
    expect(new Set(ids).size).toBe(ids.length); // none twice
    expect(new Set(ids)).toEqual(new Set(rows.map((r) => r.event_id))); // none missing
    const lastVersion = new Map<string, number>();
    for (const s of seen) {
      expect(s.version).toBe((lastVersion.get(s.streamId) ?? 0) + 1); // per-stream order, gapless
      lastVersion.set(s.streamId, s.version);
    }

    // The naive cursor skipped at least the deliberately late commit.
    await naive.stop();
    const missed = rows.filter((r) => !naive.seen.has(r.event_id));
    expect(missed.length).toBeGreaterThan(0);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const metadata = (runId: string): EventMetadata => ({
  eventId: uuidv7(),
  correlationId: runId,
  tenant: 'acme',
  producer: 'relay-test',
});

const settled = (runId: string, n: number) => ({
  type: 'BudgetSettled' as const,
  data: {
    runId,
    reservationId: `${runId}:${n}`,
    usage: { inputTokens: n, outputTokens: 1 },
    costMicros: 0,
  },
  metadata: metadata(runId),
});

async function inTx<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const r = await fn(c);
    await c.query('COMMIT');
    return r;
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  } finally {
    c.release();
  }
}

/** Appends 1–3 events per transaction to one of its own streams, sleeping 0–40 ms before COMMIT. */
async function writer(pool: Pool, w: number): Promise<void> {
  const runIds = [uuidv7(), uuidv7()];
  for (let t = 0; t < TXS_PER_WRITER; t++) {
    const runId = runIds[t % 2]!;
    await inTx(pool, async (c) => {
      const v = await streamVersion(c, streamIds.budget(runId));
      const n = 1 + ((w + t) % 3);
      await appendToStream(
        c,
        streamIds.budget(runId),
        v,
        Array.from({ length: n }, (_, i) => settled(runId, v + i + 1)),
      );
      await sleep(Math.random() * 40);
    });
  }
}

/**
 * T1 appends and stays open; T2 appends and commits; the naive reader's cursor
 * moves past T1's position, so T1's event is skipped once it commits.
 * (Waiting for the cursor, not for T2's event to be seen: the naive reader can
 * skip T2 as well, when a writer's later position commits first.)
 */
async function lateCommitCase(pool: Pool, naive: ReturnType<typeof naiveReader>): Promise<void> {
  const slow = uuidv7();
  const fast = uuidv7();
  await inTx(pool, async (c) => {
    const [slowRecord] = (await appendToStream(c, streamIds.budget(slow), 0, [settled(slow, 1)]))
      .records;
    await inTx(pool, (c2) => appendToStream(c2, streamIds.budget(fast), 0, [settled(fast, 1)]));
    await waitFor(() => naive.cursor() > slowRecord!.globalPosition, {
      timeoutMs: 10_000,
      description: 'naive reader to move past the open transaction',
    });
  });
}

/** What a relay with `WHERE global_position > cursor` would publish. */
function naiveReader(pool: Pool) {
  const seen = new Set<string>();
  let cursor = 0n;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await pool.query<{ event_id: string; global_position: string }>(
        'SELECT event_id, global_position FROM events WHERE global_position > $1 ORDER BY global_position',
        [cursor.toString()],
      );
      for (const r of rows) {
        seen.add(r.event_id);
        cursor = BigInt(r.global_position);
      }
      await sleep(5);
    }
  })();
  return {
    seen,
    cursor: () => cursor,
    stop: () => {
      running = false;
      return loop;
    },
  };
}

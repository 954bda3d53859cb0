import { streamIds, uuidv7 } from '@keel/contracts';
import { appendToStream, markProcessed, streamVersion } from '@keel/event-store';
import { ensureConsumer, startConsumer, type ConsumerHandle } from '@keel/messaging';
import { waitFor } from '@keel/testing';
import { Pool } from 'pg';
import pino from 'pino';
import { DATABASE_URL, startStack, type KeelStack } from '../support/stack';
import { checkInvariants, expectInvariants } from './support/invariants';
import { chaosScale, recordScenario } from './support/summary';

jest.setTimeout(180_000);

const ACK_WAIT_MS = 1000;

/**
 * A handler slower than the consumer's ack wait (1 s), on Keel's own consume
 * loop against the stack's JetStream and PostgreSQL. Its effect is Keel's
 * exactly-once step: inbox row + one event, in one transaction, held open
 * past the ack wait.
 * - with heartbeats (`working()` every ackWait/3): never redelivered;
 * - without (heartbeat interval far beyond the ack wait): JetStream
 *   redelivers while the first attempt still runs; the redelivery blocks on
 *   the inbox row and finds it taken — still one event per message.
 */
describe('chaos 06: a handler slower than ack_wait', () => {
  const MESSAGES = chaosScale().runs(12, 4);
  let stack: KeelStack;
  let pool: Pool; // one connection per handler in flight, redeliveries included
  const handles: ConsumerHandle[] = [];

  beforeAll(async () => {
    stack = await startStack({ services: ['outbox'] });
    pool = new Pool({
      connectionString: DATABASE_URL,
      max: 40,
      options: `-c search_path=${stack.ns.schema}`,
    });
  });
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.stop()));
    await pool?.end();
    await stack?.stop();
  });

  const logger = pino({ level: 'silent' });

  async function runCase(heartbeats: boolean) {
    const durable = `chaos-slow-${heartbeats ? 'hb' : 'nohb'}`;
    const subject = `${stack.names.prefix}.evt.chaos.${durable}`;
    await ensureConsumer(stack.jsm, stack.names.streams.events, {
      durable,
      filterSubject: subject,
      ackWaitMs: ACK_WAIT_MS,
      maxDeliver: 20,
      maxAckPending: 64,
    });
    const deliveries = new Map<string, number[]>();
    handles.push(
      startConsumer({
        js: stack.js,
        stream: stack.names.streams.events,
        durable,
        concurrency: 16,
        maxDeliver: 20,
        names: stack.names,
        logger,
        // Without heartbeats: one every 10 min, i.e. never within the ack wait.
        ...(heartbeats ? {} : { heartbeatMs: 600_000 }),
        handler: async (msg) => {
          const key = msg.msgId!;
          deliveries.set(key, [...(deliveries.get(key) ?? []), msg.deliveries]);
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            if (await markProcessed(client, durable, key)) {
              const sid = streamIds.budget(key);
              const v = await streamVersion(client, sid);
              await appendToStream(client, sid, v, [
                {
                  type: 'BudgetSettled',
                  data: {
                    runId: key,
                    reservationId: `${key}:1`,
                    usage: { inputTokens: 1, outputTokens: 1 },
                    costMicros: 0,
                  },
                  metadata: {
                    eventId: uuidv7(),
                    correlationId: key,
                    tenant: 'acme',
                    producer: 'chaos-06',
                  },
                },
              ]);
            }
            await new Promise((r) => setTimeout(r, ACK_WAIT_MS * 2.5)); // slower than ack_wait
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw err;
          } finally {
            client.release();
          }
          return { kind: 'ack' };
        },
      }),
    );
    const keys = Array.from({ length: MESSAGES }, () => uuidv7());
    for (const key of keys)
      await stack.js.publish(subject, new Uint8Array([123, 125]), { msgID: key });
    await waitFor(
      async () => {
        const info = await stack.jsm.consumers.info(stack.names.streams.events, durable);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      { timeoutMs: 60_000, description: `${durable} to ack every message` },
    );
    const { rows } = await stack.pool.query<{ stream_id: string; n: number }>(
      `SELECT stream_id, count(*)::int AS n FROM events WHERE stream_id = ANY($1::text[]) GROUP BY stream_id`,
      [keys.map((k) => streamIds.budget(k))],
    );
    return { keys, deliveries, effects: new Map(rows.map((r) => [r.stream_id, r.n])) };
  }

  it('with heartbeats: never redelivered, one effect per message', async () => {
    const { keys, deliveries, effects } = await runCase(true);
    for (const k of keys) {
      expect(deliveries.get(k)).toEqual([1]);
      expect(effects.get(streamIds.budget(k))).toBe(1);
    }
  });

  it('without heartbeats: redelivered mid-handler, still one effect per message', async () => {
    const { keys, deliveries, effects } = await runCase(false);
    const redelivered = keys.filter((k) => (deliveries.get(k)?.length ?? 0) > 1);
    expect(redelivered.length).toBeGreaterThan(0); // the fault really happened
    for (const k of keys) expect(effects.get(streamIds.budget(k))).toBe(1);
    await handles.splice(0).reduce((p, h) => p.then(() => h.stop()), Promise.resolve());
    const report = await checkInvariants({ stack, runIds: [] });
    recordScenario({
      scenario: '06-slow-handler',
      runs: keys.length * 2,
      faults: redelivered.length,
      finalStates: {},
      duplicates: report.duplicates,
      lostEvents: report.lostEvents,
    });
    expectInvariants(report);
  });
});

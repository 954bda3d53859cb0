import { JSONCodec } from 'nats';
import { runIdFor, streamIds } from '@keel/contracts';
import { calculatorScript, startScriptedModel, waitFor, type ScriptedModel } from '@keel/testing';
import { DedicatedPostgres } from '../support/dedicated-postgres';
import { startStack, streamTypes, type KeelStack } from '../support/stack';

jest.setTimeout(180_000);

/**
 * PostgreSQL is stopped immediately (no checkpoint, crash recovery on start)
 * under the running services, a run request arrives during the outage, and
 * PostgreSQL comes back: no committed event is lost, the services reconnect by
 * themselves, the waiting request runs, and the relay publishes everything.
 */
describe('PostgreSQL immediate stop and restart under the running services', () => {
  let pg: DedicatedPostgres;
  let model: ScriptedModel;
  let stack: KeelStack;

  beforeAll(async () => {
    pg = await DedicatedPostgres.create();
    model = await startScriptedModel(calculatorScript('4 * 5', 'It is '));
    stack = await startStack({ modelBaseUrl: model.baseUrl, databaseUrl: pg.url });
  });
  afterAll(async () => {
    await stack?.stop();
    await model?.close();
    await pg?.stop();
  });

  const submit = (requestId: string) =>
    stack.js.publish(
      stack.names.subjects.runRequest.build(),
      JSONCodec().encode({
        requestId,
        tenant: 'acme',
        input: { prompt: 'What is 4 * 5?' },
        tools: ['calculator'],
      }),
      { msgID: requestId },
    );
  const types = (requestId: string) =>
    streamTypes(stack.pool, streamIds.run(runIdFor('acme', requestId)));

  it('loses nothing committed and finishes the run that arrived during the outage', async () => {
    await submit('before-crash');
    await waitFor(async () => (await types('before-crash')).includes('RunCompleted'), {
      timeoutMs: 30_000,
      description: 'first run',
    });
    const before = await types('before-crash');

    await pg.crash();
    await submit('during-outage'); // NATS holds it; the planner retries until PostgreSQL is back
    await new Promise((r) => setTimeout(r, 1500));
    await pg.start();

    try {
      await waitFor(
        async () =>
          (await types('during-outage').catch((): string[] => [])).includes('RunCompleted'),
        { timeoutMs: 90_000, description: 'the run submitted during the outage to complete' },
      );
    } catch (err) {
      for (const [name, h] of stack.services)
        process.stderr.write(`--- ${name} ---\n${h.logs().slice(-3000)}\n`);
      throw err;
    }
    expect(await types('before-crash')).toEqual(before); // nothing committed was lost

    const { rows } = await stack.pool.query<{ n: string }>('SELECT count(*) AS n FROM events');
    const committed = Number(rows[0]!.n);
    try {
      await waitFor(
        async () =>
          (await stack.jsm.streams.info(stack.names.streams.events)).state.messages >= committed,
        { timeoutMs: 30_000, description: `all ${committed} committed events on JetStream` },
      );
    } catch (err) {
      const cp = await stack.pool.query('SELECT * FROM checkpoints');
      const horizon = await stack.pool.query(
        'SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, max(transaction_id::text) AS maxx FROM events',
      );
      const activity = await stack.pool.query(
        'SELECT pid, state, backend_xid::text, backend_xmin::text, left(query, 60) AS q FROM pg_stat_activity WHERE datname = current_database()',
      );
      process.stderr.write(
        `checkpoints ${JSON.stringify(cp.rows)} horizon ${JSON.stringify(horizon.rows)}\n`,
      );
      process.stderr.write(`activity ${JSON.stringify(activity.rows)}\n`);
      const outbox = stack.services.get('outbox');
      process.stderr.write(
        `--- outbox (exit ${JSON.stringify(outbox?.exit)}) ---\n${outbox?.logs().slice(-4000)}\n`,
      );
      throw err;
    }
    // Every committed event exactly once on JetStream: compare at a quiet moment (a run's
    // last budget settlement is sent after the run's commit and may still be landing).
    const counts = async () => ({
      log: Number(
        (await stack.pool.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n,
      ),
      stream: (await stack.jsm.streams.info(stack.names.streams.events)).state.messages,
    });
    const settled = await waitFor(
      async () => {
        const c = await counts();
        return c.log === c.stream ? c : undefined;
      },
      { timeoutMs: 15_000, description: 'the log and the stream to hold the same events' },
    );
    expect(settled.log).toBeGreaterThanOrEqual(committed);
  });
});

import { JSONCodec } from 'nats';
import { runIdFor, type RunRequestInput } from '@keel/contracts';
import { generateApiKey } from '@keel/projections/store';
import { waitFor } from '@keel/testing';
import { freePort } from '../support/free-port';
import { streamTypes } from '../support/stack';
import {
  addWebhookScenario,
  finishScenario,
  startChaosWorld,
  type ChaosWorld,
} from './support/harness';
import { chaosScale } from './support/summary';

jest.setTimeout(180_000);

const json = JSONCodec();

/**
 * The same run request arrives many times at once — the same Nats-Msg-Id
 * (JetStream's window drops the copies) and distinct ones (as when an upstream
 * retries after the window, or through another path): the run id is derived
 * from (tenant, requestId), so there is one run, one RunRequested, one webhook.
 * A redelivered duplicate after the run ended starts nothing either.
 */
describe('chaos 08: the same run request 50 times concurrently', () => {
  const COPIES = chaosScale().runs(50, 50);
  const REQUESTS = chaosScale().runs(4, 2);
  let world: ChaosWorld;

  beforeAll(async () => {
    world = await startChaosWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('NATS ingress: one run per request id', async () => {
    const { stack } = world;
    const name = addWebhookScenario(world, 'dup-requests');
    const subject = stack.names.subjects.runRequest.build();
    const requests: RunRequestInput[] = Array.from({ length: REQUESTS }, (_, i) => ({
      requestId: `dup-${i}-${stack.ns.prefix}`,
      tenant: 'acme',
      input: { prompt: `scenario:${name}\norder-dup-${i}` },
      tools: ['webhook_post'],
    }));
    // Half the copies share the request's Msg-Id, half carry their own.
    await Promise.all(
      requests.flatMap((r) =>
        Array.from({ length: COPIES }, (_, c) =>
          stack.js.publish(subject, json.encode(r), {
            msgID: c % 2 === 0 ? r.requestId : `${r.requestId}#${c}`,
          }),
        ),
      ),
    );
    const runIds = requests.map((r) => runIdFor(r.tenant, r.requestId));
    await waitFor(() => world.receiver.processedByKey.size >= REQUESTS, {
      timeoutMs: 60_000,
      description: `${REQUESTS} webhooks`,
    });
    // Once every run ended, the same requests again (redelivered duplicates, new Msg-Ids).
    for (const runId of runIds)
      await waitFor(
        async () => (await streamTypes(stack.pool, `run:${runId}`)).includes('RunCompleted'),
        {
          timeoutMs: 60_000,
          description: `run ${runId} to complete`,
        },
      );
    await Promise.all(
      requests.map((r) =>
        stack.js.publish(subject, json.encode(r), { msgID: `${r.requestId}#late` }),
      ),
    );
    await finishScenario(world, {
      scenario: '08-duplicate-run-requests',
      runIds,
      faults: REQUESTS * (COPIES + 1),
      expectedEffects: REQUESTS,
    });
    const { rows } = await stack.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events WHERE type = 'RunRequested'`,
    );
    expect(rows[0]!.n).toBe(REQUESTS);
    // Every copy with its own Msg-Id reached the planner and was absorbed (inbox or run id).
    const ingress = await stack.jsm.consumers.info(
      stack.names.streams.ingress,
      stack.names.consumers.plannerIngress,
    );
    expect(ingress.delivered.stream_seq).toBe(REQUESTS * (COPIES / 2 + 1) + REQUESTS);
  });

  it('HTTP POST /runs: the same request 50 times concurrently, and through NATS too: one run', async () => {
    const { stack } = world;
    const port = await freePort();
    const key = generateApiKey().key;
    await stack.start('api', 'api', {
      KEEL_API_PORT: String(port),
      KEEL_API_BOOTSTRAP_KEYS: JSON.stringify([{ tenant: 'acme', key }]),
    });
    const name = addWebhookScenario(world, 'dup-http');
    const effectsBefore = world.receiver.processedByKey.size;
    const idempotencyKey = `dup-http-${stack.ns.prefix}`;
    const body = { input: { prompt: `scenario:${name}\norder-dup-http` }, tools: ['webhook_post'] };
    const post = () =>
      fetch(`http://127.0.0.1:${port}/runs`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'idempotency-key': idempotencyKey,
        },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { runId: string } }));
    // The same request through both ingress paths at once: HTTP copies and NATS copies
    // (the API's request id is the Idempotency-Key, so both name the same run).
    const natsCopy: RunRequestInput = { requestId: idempotencyKey, tenant: 'acme', ...body };
    const [answers] = await Promise.all([
      Promise.all(Array.from({ length: COPIES }, post)),
      Promise.all(
        Array.from({ length: 5 }, (_, c) =>
          stack.js.publish(stack.names.subjects.runRequest.build(), json.encode(natsCopy), {
            msgID: `${idempotencyKey}#nats-${c}`,
          }),
        ),
      ),
    ]);
    const runId = runIdFor('acme', idempotencyKey);
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([202]));
    expect(new Set(answers.map((a) => a.body.runId))).toEqual(new Set([runId]));
    await waitFor(
      async () => (await streamTypes(stack.pool, `run:${runId}`)).includes('RunCompleted'),
      { timeoutMs: 60_000, description: `run ${runId} to complete` },
    );
    await finishScenario(world, {
      scenario: '08-duplicate-run-requests (HTTP + NATS)',
      runIds: [runId],
      faults: COPIES + 5,
      expectedEffects: effectsBefore + 1,
    });
    expect(await streamTypes(stack.pool, `run:${runId}`)).toEqual(
      expect.arrayContaining(['RunRequested']),
    );
    const { rows } = await stack.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events WHERE type = 'RunRequested' AND stream_id = $1`,
      [`run:${runId}`],
    );
    expect(rows[0]!.n).toBe(1);
  });
});

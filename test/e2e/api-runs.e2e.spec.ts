import { JSONCodec, StringCodec } from 'nats';
import { uuidv7 } from '@keel/contracts';
import { generateApiKey } from '@keel/projections/store';
import {
  calculatorScript,
  startScriptedModel,
  startWebhookReceiver,
  toolCallsReply,
  waitFor,
  type ScriptedModel,
  type WebhookReceiver,
} from '@keel/testing';
import { freePort } from '../support/free-port';
import { Scenarios } from '../support/scenarios';
import { SERVICES, startStack, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

const WEBHOOK_SECRET = 'api-e2e-webhook-secret-0123456789';

/**
 * The HTTP API over real HTTP against the running services: submit and
 * follow runs, idempotency, tenancy, auth, errors, reviews (and their
 * webhook), cancel, the SSE timeline, the OpenAPI document and the DLQ.
 */
describe('api: runs over HTTP', () => {
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let hooks: WebhookReceiver;
  let stack: KeelStack;
  let base: string;
  const acme = generateApiKey().key;
  const globex = generateApiKey().key;
  const admin = generateApiKey().key;
  let completedRun = '';

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    hooks = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      services: [...SERVICES, 'api'],
      env: {
        KEEL_REVIEW_MIN_CONFIDENCE: '0.7',
        KEEL_WEBHOOK_SECRET: WEBHOOK_SECRET,
        KEEL_API_PORT: String(port),
        KEEL_MODEL_PRICES: JSON.stringify({
          'keel-scripted': { inputPerMTok: 1000, outputPerMTok: 1000 },
        }),
        KEEL_REVIEW_WEBHOOK_URL: hooks.url,
        KEEL_API_BOOTSTRAP_KEYS: JSON.stringify([
          { tenant: 'acme', key: acme },
          { tenant: 'globex', key: globex },
          { tenant: 'ops', key: admin, role: 'admin' },
        ]),
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await hooks?.close();
    await model?.close();
  });

  interface Answer {
    status: number;
    body: ApiJson;
    headers: Headers;
  }
  const call = async (
    key: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Answer> => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: (text ? JSON.parse(text) : {}) as ApiJson,
      headers: res.headers,
    };
  };
  const submit = (key: string, scenario: string, idempotencyKey?: string) =>
    call(
      key,
      'POST',
      '/runs',
      { input: { prompt: `scenario:${scenario}\nWhat is 6 * 7?` }, tools: ['calculator'] },
      idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
    );
  const waitForStatus = (key: string, runId: string, status: string) =>
    waitFor(
      async () => {
        const r = await call(key, 'GET', `/runs/${runId}`);
        return r.body?.status === status ? r.body : undefined;
      },
      { timeoutMs: 30_000, description: `run ${runId} ${status}` },
    );
  /** A calculator run whose first decision is not confident enough: it waits for a review. */
  const unsure = (name: string) =>
    scenarios.add(name, (req, i) =>
      i === 0
        ? toolCallsReply([{ name: 'calculator', arguments: { expression: '6 * 7' } }], {
            confidence: 0.4,
          })
        : calculatorScript('6 * 7', 'It is ')(req, i),
    );

  it('runs a submitted run to completion; the same Idempotency-Key twice is one run', async () => {
    scenarios.add('api-complete', calculatorScript('6 * 7', 'It is '));
    const key = `idem-${uuidv7()}`;
    const first = await submit(acme, 'api-complete', key);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ tenant: 'acme', requestId: key, duplicate: false });
    expect(first.headers.get('location')).toBe(`/runs/${first.body.runId}`);
    const again = await submit(acme, 'api-complete', key);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ runId: first.body.runId, duplicate: true });

    const run = await waitForStatus(acme, first.body.runId, 'completed');
    expect(run).toMatchObject({
      tenant: 'acme',
      requestId: key,
      answer: 'It is 42',
      steps: 2,
      toolCalls: { total: 1, failed: 0, pending: 0 },
      failure: null,
    });
    expect(run.budget.tokensIn).toBeGreaterThan(0);
    // Cost comes from the budget stream, projected on its own (the relay publishes it, later).
    await waitFor(
      async () => (await call(acme, 'GET', `/runs/${run.runId}`)).body.budget.costUsd > 0,
      {
        timeoutMs: 15_000,
        description: 'the run’s cost projected',
      },
    );
    expect(run.createdAt <= run.endedAt).toBe(true);
    const { rows } = await stack.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events WHERE type = 'RunRequested' AND data->>'requestId' = $1`,
      [key],
    );
    expect(rows[0]!.n).toBe(1);

    // The same key with another body is refused, not silently mapped to the first run.
    const reused = await call(
      acme,
      'POST',
      '/runs',
      { input: { prompt: 'other' } },
      { 'idempotency-key': key },
    );
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');

    // The timeline: every stream of the run, in log order, with who wrote what.
    const timeline = await call(acme, 'GET', `/runs/${first.body.runId}/events`);
    expect(timeline.status).toBe(200);
    const events = timeline.body.events as Array<{ id: string; type: string; streamId: string }>;
    const types = events.map((e) => e.type);
    expect(events.find((e) => e.streamId.startsWith('run:'))?.type).toBe('RunRequested');
    // Log order: (transaction id, position), strictly increasing.
    const order = events.map((e) => e.id.split(':').map(BigInt) as [bigint, bigint]);
    for (let i = 1; i < order.length; i++) {
      const [a, b] = [order[i - 1]!, order[i]!];
      expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])).toBe(true);
    }
    completedRun = first.body.runId;
    expect(types).toEqual(
      expect.arrayContaining(['ToolCallSucceeded', 'BudgetSettled', 'RunCompleted']),
    );
    const decision = timeline.body.events.find(
      (e: { type: string }) => e.type === 'ModelDecisionRecorded',
    );
    expect(decision).toMatchObject({ source: 'planner', step: 1, attempt: 1 });
    expect(decision?.tokens?.input).toBeGreaterThan(0);
    expect(typeof decision?.latencyMs).toBe('number');
  });

  it('keeps tenants apart: another tenant’s run is 404 and never listed', async () => {
    scenarios.add('api-tenants', calculatorScript('6 * 7', 'It is '));
    const mine = await submit(globex, 'api-tenants');
    expect(mine.status).toBe(202);
    expect(mine.body.tenant).toBe('globex');
    await waitForStatus(globex, mine.body.runId, 'completed');

    const peek = await call(acme, 'GET', `/runs/${mine.body.runId}`);
    expect(peek.status).toBe(404);
    expect(peek.body.error.code).toBe('NOT_FOUND');
    expect((await call(acme, 'GET', `/runs/${mine.body.runId}/events`)).status).toBe(404);
    const cancel = await call(acme, 'POST', `/runs/${mine.body.runId}/cancel`, {
      reason: 'mine now',
    });
    expect(cancel.status).toBe(404);

    const acmeList = await call(acme, 'GET', '/runs?limit=200');
    expect(acmeList.status).toBe(200);
    expect(acmeList.body.runs.length).toBeGreaterThan(0);
    expect(acmeList.body.runs.every((r: { tenant: string }) => r.tenant === 'acme')).toBe(true);
    expect((await call(acme, 'GET', '/runs?tenant=globex')).body.runs).toEqual([]);
    const globexList = await call(globex, 'GET', '/runs');
    expect(globexList.body.runs.map((r: { runId: string }) => r.runId)).toContain(mine.body.runId);

    // A body naming another tenant is refused; an admin key sees every tenant.
    const forged = await call(globex, 'POST', '/runs', { tenant: 'acme', input: { prompt: 'x' } });
    expect(forged.status).toBe(403);
    const all = await call(admin, 'GET', '/runs?limit=200');
    expect(new Set(all.body.runs.map((r: { tenant: string }) => r.tenant))).toEqual(
      new Set(['acme', 'globex']),
    );
  });

  it('pages newest first with a keyset cursor', async () => {
    // Two runs so far (acme's and globex's): one per page, in order, then no more.
    const page1 = await call(admin, 'GET', '/runs?limit=1');
    const page2 = await call(admin, 'GET', `/runs?limit=1&cursor=${page1.body.nextCursor}`);
    expect(page1.body.runs).toHaveLength(1);
    expect(page2.body.runs).toHaveLength(1);
    const [newer, older] = [page1.body.runs[0]!, page2.body.runs[0]!];
    expect(newer.createdAt >= older.createdAt).toBe(true);
    expect(older.runId).not.toBe(newer.runId);
    expect(page2.body.nextCursor).toBeNull();
    expect((await call(acme, 'GET', '/runs?cursor=bogus')).status).toBe(400);
  });

  it('answers 401 without a valid key, 400 with the issues for bad input, 404 for unknown runs', async () => {
    const none = await call(undefined, 'GET', '/runs');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.body.error.code).toBe('UNAUTHORIZED');
    expect((await call(generateApiKey().key, 'GET', '/runs')).status).toBe(401);
    expect((await call(`${acme.slice(0, -1)}x`, 'GET', '/runs')).status).toBe(401);
    expect((await call('not-a-key', 'POST', '/runs', {})).status).toBe(401);

    const bad = await call(acme, 'POST', '/runs', { input: { prompt: '' }, tools: ['Not A Tool'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BAD_REQUEST');
    expect(bad.body.issues.map((i: { path: unknown[] }) => i.path.join('.'))).toEqual(
      expect.arrayContaining(['input.prompt', 'tools.0']),
    );
    const notJson = await call(acme, 'POST', '/runs', '{"input":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('INVALID_JSON');
    expect((await call(acme, 'GET', '/runs?limit=0')).status).toBe(400);
    expect((await call(acme, 'GET', '/runs/not-a-uuid')).status).toBe(400);

    const unknown = await call(acme, 'GET', `/runs/${uuidv7()}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({
      error: { code: 'NOT_FOUND', message: expect.any(String) as string },
    });
    const review = await call(acme, 'POST', `/runs/${uuidv7()}/reviews/1`, { decision: 'approve' });
    expect(review.status).toBe(404);
  });

  it('a review: the webhook announces it, the SSE stream follows it live, approve resumes the run; 409 when not waiting', async () => {
    const submitted = await submit(acme, unsure('api-review'));
    const runId: string = submitted.body.runId;
    const waiting = await waitForStatus(acme, runId, 'awaiting_human');
    expect(waiting.reviewStep).toBe(1);

    // The review webhook, through the outbox, signed, keyed by run and step.
    await waitFor(() => hooks.processedByKey.get(`review:${runId}:1`) === 1, {
      timeoutMs: 30_000,
      description: 'the review webhook',
    });
    const [hook] = hooks.attemptsFor(`review:${runId}:1`);
    expect(hook!.signatureValid).toBe(true);
    expect(JSON.parse(hook!.body)).toMatchObject({
      type: 'keel.review.requested',
      runId,
      tenant: 'acme',
      step: 1,
      reason: 'low_confidence',
      proposal: { kind: 'tool_calls' },
      links: { decide: expect.stringMatching(new RegExp(`/runs/${runId}/reviews/1$`)) as string },
    });

    // Follow the run while it waits: the stream replays what happened so far.
    const sse = openEventStream(`${base}/runs/${runId}/events/stream`, acme);
    await waitFor(() => sse.events.some((e) => e.type === 'HumanReviewRequested'), {
      timeoutMs: 15_000,
      description: 'the replayed review request on the stream',
    });

    const wrongStep = await call(acme, 'POST', `/runs/${runId}/reviews/2`, { decision: 'approve' });
    expect(wrongStep.status).toBe(409);
    expect(wrongStep.body.error.code).toBe('NOT_AWAITING_REVIEW');
    expect(
      (await call(acme, 'POST', `/runs/${runId}/reviews/1`, { decision: 'maybe' })).status,
    ).toBe(400);

    const approve = await call(acme, 'POST', `/runs/${runId}/reviews/1`, {
      decision: 'approve',
      reviewer: 'ops@acme.test',
    });
    expect(approve.status).toBe(200);
    expect(approve.body).toMatchObject({ status: 'accepted', duplicate: false });
    await waitForStatus(acme, runId, 'completed');

    // The live part: the stream ends after the run's final event, with the whole timeline in order.
    const streamed = await sse.done;
    expect(sse.ended).toBe(true);
    const timeline = (await call(acme, 'GET', `/runs/${runId}/events`)).body.events as Array<{
      id: string;
      type: string;
    }>;
    const end = timeline.findIndex((e) => e.type === 'RunCompleted');
    expect(streamed.map((e) => e.id)).toEqual(timeline.slice(0, end + 1).map((e) => e.id));
    expect(streamed.at(-1)!.type).toBe('RunCompleted');

    const late = await call(acme, 'POST', `/runs/${runId}/reviews/1`, { decision: 'approve' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('RUN_FINISHED');
  });

  it('cancels a run; a repeat is a duplicate; an ended run is 409', async () => {
    const submitted = await submit(acme, unsure('api-cancel'));
    const runId: string = submitted.body.runId;
    await waitForStatus(acme, runId, 'awaiting_human');
    const cancel = await call(acme, 'POST', `/runs/${runId}/cancel`, { reason: 'not needed' });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ status: 'accepted', runStatus: 'cancelled' });
    const run = await waitForStatus(acme, runId, 'cancelled');
    expect(run.failure).toEqual({
      code: 'CANCELLED',
      message: expect.stringContaining('not needed') as string,
    });
    const repeat = await call(acme, 'POST', `/runs/${runId}/cancel`, { reason: 'again' });
    expect(repeat).toMatchObject({ status: 200, body: { duplicate: true } });
    const ended = await call(acme, 'POST', `/runs/${completedRun}/cancel`, { reason: 'too late' });
    expect(ended.status).toBe(409);
    expect(ended.body.error.code).toBe('RUN_FINISHED');
    expect((await call(acme, 'POST', `/runs/${runId}/cancel`, {})).status).toBe(400);
  });

  it('serves an OpenAPI 3.1 document generated from the zod schemas', async () => {
    const doc = await call(undefined, 'GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/runs',
        '/runs/{id}',
        '/runs/{id}/events',
        '/runs/{id}/events/stream',
        '/runs/{id}/reviews/{step}',
        '/runs/{id}/cancel',
        '/dlq',
        '/dlq/{id}/redrive',
        '/dlq/{id}/discard',
      ]),
    );
    const body = doc.body.components.schemas.SubmitRunBody!;
    // From RunRequest in libs/contracts: the tenant's pattern, the prompt's limit, tools' shape.
    expect(body.properties.input?.properties.prompt).toMatchObject({
      type: 'string',
      maxLength: 200_000,
    });
    expect(body.properties.tenant?.pattern).toBe('^[a-z0-9][a-z0-9_-]{0,62}$');
    expect(body.required).toEqual(['input']);
    const refs = JSON.stringify(doc.body).match(/#\/components\/schemas\/\w+/g) ?? [];
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs)
      expect(doc.body.components.schemas).toHaveProperty(ref.split('/').at(-1)!);
    expect((await call(undefined, 'GET', '/healthz')).body).toMatchObject({ status: 'ok' });
  });

  it('operates the DLQ: list and show for admins, hidden from tenants, discard once', async () => {
    const subject = stack.names.subjects.runRequest.build();
    await stack.js.publish(subject, StringCodec().encode('{not json'), { msgID: 'api-dlq-1' });
    await stack.js.publish(subject, JSONCodec().encode({ requestId: 'x', tenant: 'ACME!' }), {
      msgID: 'api-dlq-2',
    });
    // Each failure reaches the DLQ twice (the planner's dead letter, then the TERMINATED
    // advisory of its term, recorded as a duplicate): wait for all four records.
    await waitFor(
      async () =>
        (
          await stack.pool.query('SELECT 1 FROM dead_letters WHERE consumer = $1', [
            stack.names.consumers.plannerIngress,
          ])
        ).rowCount! >= 4,
      { timeoutMs: 30_000, description: 'two dead letters and their advisories ingested' },
    );
    const listed = (await call(admin, 'GET', '/dlq')).body.entries;
    expect(listed.map((e: { code: string }) => e.code).sort()).toEqual([
      'INVALID_JSON',
      'SCHEMA_INVALID',
    ]);
    const entry = listed.find((e: { code: string }) => e.code === 'INVALID_JSON')!;
    const shown = await call(admin, 'GET', `/dlq/${entry.id}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({
      id: entry.id,
      status: 'open',
      payload: { encoding: 'utf8', text: '{not json' },
    });

    // Not a tenant's: no run named in it.
    expect((await call(acme, 'GET', '/dlq')).body.entries).toEqual([]);
    expect((await call(acme, 'GET', `/dlq/${entry.id}`)).status).toBe(404);
    expect((await call(admin, 'GET', '/dlq/999999')).status).toBe(404);
    expect((await call(admin, 'POST', `/dlq/${entry.id}/discard`, {})).status).toBe(400);

    const discarded = await call(admin, 'POST', `/dlq/${entry.id}/discard`, {
      reason: 'garbage from a test',
    });
    expect(discarded.status).toBe(200);
    expect(discarded.body).toMatchObject({
      status: 'discarded',
      resolutionNote: 'garbage from a test',
    });
    expect(
      (await call(admin, 'POST', `/dlq/${entry.id}/discard`, { reason: 'again' })).status,
    ).toBe(409);
    expect((await call(admin, 'POST', `/dlq/${entry.id}/redrive`)).status).toBe(409);
  });

  it('never writes a key to a log', () => {
    const logs = [...stack.services.values()].map((h) => h.logs()).join('\n');
    expect(logs).toContain('bootstrap API keys stored');
    for (const key of [acme, globex, admin]) {
      expect(logs).not.toContain(key);
      expect(logs).not.toContain(key.slice('keel_0123456789ab_'.length)); // the secret part
    }
  });
});

/** Every field the tests read from an answer (each answer has some of them). */
interface ApiJson {
  runId: string;
  tenant: string;
  requestId: string;
  duplicate: boolean;
  status: string;
  reviewStep: number | null;
  answer: string | null;
  failure: { code: string; message: string } | null;
  budget: { tokensIn: number; tokensOut: number; costUsd: number };
  createdAt: string;
  endedAt: string;
  error: { code: string; message: string };
  issues: Array<{ path: unknown[] }>;
  events: Array<{
    id: string;
    type: string;
    streamId: string;
    source: string;
    tokens: { input: number } | null;
    latencyMs: number | null;
  }>;
  runs: Array<{ runId: string; tenant: string; createdAt: string }>;
  nextCursor: string | null;
  openapi: string;
  paths: Record<string, unknown>;
  components: {
    schemas: Record<
      string,
      {
        properties: Record<string, { properties: Record<string, unknown>; pattern: string }>;
        required: string[];
      }
    >;
  };
  entries: Array<{ id: number; code: string }>;
  id: number;
}

interface StreamedEvent {
  id: string;
  type: string;
}

/** Reads a Server-Sent Events stream until it ends; `events` fills as they arrive. */
function openEventStream(url: string, key: string) {
  const state = {
    events: [] as StreamedEvent[],
    ended: false,
    done: undefined as unknown as Promise<StreamedEvent[]>,
  };
  state.done = (async () => {
    const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
    if (res.status !== 200 || !res.body) throw new Error(`stream answered ${res.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const fields = new Map<string, string>();
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(': ');
          if (i > 0) fields.set(line.slice(0, i), line.slice(i + 2));
        }
        if (fields.get('event') === 'end') state.ended = true;
        else if (fields.has('data')) {
          const data = JSON.parse(fields.get('data')!) as StreamedEvent;
          expect(data.id).toBe(fields.get('id'));
          state.events.push(data);
        }
      }
    }
    return state.events;
  })();
  return state;
}

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
import type { RunningNats } from '../infra/nats-config';
import { freePort } from '../support/free-port';
import {
  startLeastPrivilegeStack,
  type LeastPrivilegeStack,
} from '../support/least-privilege-stack';
import { SERVICES, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

const WEBHOOK_SECRET = 'api-lp-webhook-secret-0123456789';

/**
 * The API with only its own NATS user (infra/nats/auth.conf, `api`) on a
 * server running the repository's config, after `keel provision`: it can
 * submit, project (pull and ack `api-projector`), request the review webhook
 * and forward a review decision — and the server reports no permission
 * violation from anyone.
 */
describe('api: least-privilege NATS user', () => {
  let lp: LeastPrivilegeStack;
  let nats: RunningNats;
  let model: ScriptedModel;
  let hooks: WebhookReceiver;
  let stack: KeelStack;
  let base: string;
  const key = generateApiKey().key;

  beforeAll(async () => {
    model = await startScriptedModel((req, i) =>
      i === 0
        ? toolCallsReply([{ name: 'calculator', arguments: { expression: '6 * 7' } }], {
            confidence: 0.4,
          })
        : calculatorScript('6 * 7', 'It is ')(req, i),
    );
    hooks = await startWebhookReceiver({ secret: WEBHOOK_SECRET });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // The api runs as its own NATS user too (the helper gives every service its own).
    lp = await startLeastPrivilegeStack({
      modelBaseUrl: model.baseUrl,
      services: [...SERVICES, 'api'],
      env: {
        KEEL_REVIEW_MIN_CONFIDENCE: '0.7',
        KEEL_WEBHOOK_SECRET: WEBHOOK_SECRET,
        KEEL_API_PORT: String(port),
        KEEL_REVIEW_WEBHOOK_URL: hooks.url,
        KEEL_API_BOOTSTRAP_KEYS: JSON.stringify([{ tenant: 'acme', key }]),
      },
    });
    ({ nats, stack } = lp);
    expect(lp.provisionOutput).toContain('KEEL_EVENTS/api-projector');
  });

  afterAll(async () => {
    await lp?.stop();
    await hooks?.close();
    await model?.close();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as { runId: string; status: string } };
  };
  const statusOf = async (runId: string) => (await call('GET', `/runs/${runId}`)).body.status;

  it('submits, projects, announces the review and forwards the decision with its own user only', async () => {
    const submitted = await call('POST', '/runs', {
      input: { prompt: 'What is 6 * 7?' },
      tools: ['calculator'],
    });
    expect(submitted.status).toBe(202);
    const { runId } = submitted.body;
    await waitFor(async () => (await statusOf(runId)) === 'awaiting_human', {
      timeoutMs: 30_000,
      description: 'the run waiting for a review, projected',
    });
    await waitFor(() => hooks.processedByKey.get(`review:${runId}:1`) === 1, {
      timeoutMs: 30_000,
      description: 'the review webhook',
    });
    const approved = await call('POST', `/runs/${runId}/reviews/1`, { decision: 'approve' });
    expect(approved.status).toBe(200);
    await waitFor(async () => (await statusOf(runId)) === 'completed', {
      timeoutMs: 30_000,
      description: 'the run completed, projected',
    });

    const violations = [...stack.services.values()].filter((s) => /Violation/i.test(s.logs()));
    expect(violations.map((s) => s.name)).toEqual([]);
    expect(nats.logs()).not.toMatch(/Violation/);
  });
});

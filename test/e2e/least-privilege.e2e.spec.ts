import { JSONCodec } from 'nats';
import { randomUUID } from 'node:crypto';
import { runIdFor, streamIds, uuidv7 } from '@keel/contracts';
import { appendToStream } from '@keel/event-store';
import { newEventMetadata } from '@keel/runtime';
import {
  calculatorScript,
  startScriptedModel,
  startWebhookReceiver,
  waitFor,
  type ScriptedModel,
  type WebhookReceiver,
} from '@keel/testing';
import type { RunningNats } from '../infra/nats-config';
import {
  startLeastPrivilegeStack,
  type LeastPrivilegeStack,
} from '../support/least-privilege-stack';
import { streamTypes, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * The deployment docker-compose describes, minus Docker: NATS with the
 * per-service users of infra/nats, `keel provision` as the admin user, and
 * every service with only its own credentials and KEEL_NATS_PROVISION=false.
 * A run must still go through all four services — so every permission a
 * service really needs is granted, and no service needs admin rights.
 */
describe('least-privilege deployment (infra/nats users, keel provision)', () => {
  let lp: LeastPrivilegeStack;
  let nats: RunningNats;
  let model: ScriptedModel;
  let stack: KeelStack;
  let hooks: WebhookReceiver;
  const webhookSecret = `lp-${randomUUID()}`;

  beforeAll(async () => {
    model = await startScriptedModel(calculatorScript('6 * 7', 'It is '));
    hooks = await startWebhookReceiver({
      secret: webhookSecret,
      script: (_attempt, req) => (req.key.startsWith('refused') ? { status: 400 } : undefined),
    });
    lp = await startLeastPrivilegeStack({
      modelBaseUrl: model.baseUrl,
      env: {
        KEEL_WEBHOOK_SECRET: webhookSecret,
        // The relay's amnesia check runs often, so its reads are checked against the permissions too.
        KEEL_RELAY_AMNESIA_CHECK_MS: '200',
      },
    });
    ({ nats, stack } = lp);
    expect(lp.provisionOutput).toContain('KEEL_INGRESS/planner-ingress');
    expect(lp.provisionOutput).toContain('KEEL_EVENTS/outbox-deliveries');
  });

  afterAll(async () => {
    await lp?.stop();
    await model?.close();
    await hooks?.close();
  });

  it('runs a request from the upstream user through all four services', async () => {
    const request = {
      requestId: 'least-privilege-1',
      tenant: 'acme',
      input: { prompt: 'What is 6 * 7?' },
      tools: ['calculator'],
    };
    await stack.js.publish('keel.ingress.run-request', JSONCodec().encode(request), {
      msgID: request.requestId,
    });
    const runStream = streamIds.run(runIdFor('acme', request.requestId));
    await waitFor(async () => (await streamTypes(stack.pool, runStream)).includes('RunCompleted'), {
      timeoutMs: 30_000,
      description: 'RunCompleted with least-privilege credentials',
    });
    const violations = [...stack.services.values()].filter((s) => /Violation/i.test(s.logs()));
    expect(violations.map((s) => s.name)).toEqual([]);
    expect(nats.logs()).not.toMatch(/Violation/);
  });

  it('the outbox pulls and acks its deliveries and dead-letters a refused one with its own user', async () => {
    const deliver = async (idempotencyKey: string) => {
      const deliveryId = uuidv7();
      const runId = randomUUID();
      await appendToStream(stack.pool, streamIds.delivery(deliveryId), 0, [
        {
          type: 'DeliveryRequested',
          data: {
            deliveryId,
            runId,
            channel: 'webhook',
            idempotencyKey,
            target: hooks.url,
            payload: { hello: 'least privilege' },
          },
          metadata: newEventMetadata({ runId, tenant: 'acme', producer: 'e2e-test' }),
        },
      ]);
      return streamIds.delivery(deliveryId);
    };
    const delivered = await deliver('accepted-1');
    const refused = await deliver('refused-1');
    await waitFor(
      async () => (await streamTypes(stack.pool, delivered)).includes('DeliverySucceeded'),
      {
        timeoutMs: 30_000,
        description: 'DeliverySucceeded with least-privilege credentials',
      },
    );
    await waitFor(async () => (await streamTypes(stack.pool, refused)).includes('DeliveryFailed'), {
      timeoutMs: 30_000,
      description: 'DeliveryFailed with least-privilege credentials',
    });
    // The dead letter went out (a refused publish would have nak'ed the message instead).
    await stack.services.get('outbox')!.waitForLog(/"msg":"message dead-lettered"/, 10_000);
    expect(hooks.processedByKey.get('accepted-1')).toBe(1);
    // The budget guard ingested it into dead_letters with its own user: the dead letter from
    // its DLQ durable, and the TERMINATED advisory with the original read back from KEEL_EVENTS.
    const ingested = await waitFor(
      async () => {
        const { rows } = await stack.pool.query<{ kind: string; status: string; bytes: number }>(
          `SELECT kind, status, octet_length(payload) AS bytes FROM dead_letters
            WHERE consumer = 'outbox-deliveries' ORDER BY kind`,
        );
        return rows.length >= 2 ? rows : undefined;
      },
      { timeoutMs: 30_000, description: 'the refused delivery in dead_letters' },
    );
    expect(ingested.map((r) => [r.kind, r.status])).toEqual([
      ['dead_letter', 'open'],
      ['terminated', 'discarded'],
    ]);
    expect(ingested.map((r) => r.bytes > 0)).toEqual([true, true]);
    const violations = [...stack.services.values()].filter((s) => /Violation/i.test(s.logs()));
    expect(violations.map((s) => s.name)).toEqual([]);
    expect(nats.logs()).not.toMatch(/Violation/);
  });
});

import {
  finalReply,
  startScriptedModel,
  startWebhookReceiver,
  toolCallsReply,
  waitFor,
  type ScriptedModel,
  type WebhookReceiver,
} from '@keel/testing';
import { Scenarios, submitRun, textOf, type SubmittedRun } from '../support/scenarios';
import { startStack, streamTypes, type KeelStack, type ServiceName } from '../support/stack';
import { streamIds } from '@keel/contracts';

jest.setTimeout(240_000);

const SECRET = 'exactly-once-test-secret';
const RUNS = 50;

/** Small seeded PRNG (mulberry32): a failing seed can be replayed with KEEL_CHAOS_SEED. */
function seeded(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 50 runs each send one webhook while the tool executor and the outbox are
 * killed with SIGKILL at random points and restarted. The receiver is a real
 * HTTP server that verifies signatures and, like a well-behaved API, processes
 * each idempotency key once (it also hangs on some first attempts after
 * processing them, so the sender never learns they worked). Every key must be
 * processed exactly once and every run must complete.
 */
describe('webhooks are delivered exactly once per key through kill -9 of executor and outbox', () => {
  const seed = Number(process.env.KEEL_CHAOS_SEED ?? 20261121);
  const random = seeded(seed);
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let receiver: WebhookReceiver;
  let stack: KeelStack;

  beforeAll(async () => {
    receiver = await startWebhookReceiver({
      secret: SECRET,
      // Some first attempts are processed and then never answered.
      script: (attempt, req) =>
        attempt === 1 && req.key.endsWith('0') ? { hang: true } : undefined,
    });
    model = await startScriptedModel(scenarios.script);
    const host = new URL(receiver.url).host;
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      env: {
        KEEL_WEBHOOK_ALLOWED_HOSTS: host,
        KEEL_WEBHOOK_SECRET: SECRET,
        KEEL_DELIVERY_TIMEOUT_MS: '1000',
        KEEL_DELIVERY_RETRY_BASE_MS: '100',
        KEEL_DELIVERY_RETRY_CAP_MS: '1000',
        KEEL_REVIEW_ENABLED: 'false',
        KEEL_RELAY_POLL_MS: '100',
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
    await receiver?.close();
  });

  it(`every key processed once (seed ${seed})`, async () => {
    const name = scenarios.add('webhook', (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? finalReply('sent')
        : toolCallsReply([
            {
              name: 'webhook_post',
              arguments: { url: receiver.url, body: { order: textOf(req.messages[1]).slice(-12) } },
            },
          ]),
    );
    const runs: SubmittedRun[] = await Promise.all(
      Array.from({ length: RUNS }, (_, i) =>
        submitRun(stack, name, {
          tools: ['webhook_post'],
          prompt: `order-${String(i).padStart(6, '0')}`,
        }),
      ),
    );

    // Kill -9 a service at random moments while the runs are in flight, then restart it.
    const kills: string[] = [];
    for (let k = 0; k < 6; k++) {
      await new Promise((r) => setTimeout(r, 150 + random() * 600));
      const victim: ServiceName = random() < 0.5 ? 'tool-executor' : 'outbox';
      const handle = stack.services.get(victim)!;
      handle.kill('SIGKILL');
      await handle.exited;
      kills.push(victim);
      await stack.start(victim);
    }

    await waitFor(() => receiver.processedByKey.size >= RUNS, {
      timeoutMs: 120_000,
      description: `${RUNS} keys processed (kills: ${kills.join(', ')})`,
    });
    for (const run of runs) {
      await waitFor(
        async () =>
          (await streamTypes(stack.pool, streamIds.run(run.runId))).includes('RunCompleted'),
        {
          timeoutMs: 60_000,
          description: `run ${run.runId} to complete`,
        },
      );
    }
    // A delivery whose outbox was killed after the receiver answered is recorded only when
    // JetStream redelivers it (ack wait 30 s); the retry is answered from the receiver's store.
    const succeeded = async () =>
      (
        await stack.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM events WHERE stream_id LIKE 'delivery:%' AND type = 'DeliverySucceeded'`,
        )
      ).rows[0]!.n;
    await waitFor(async () => (await succeeded()) >= RUNS, {
      timeoutMs: 90_000,
      description: `${RUNS} DeliverySucceeded recorded (kills: ${kills.join(', ')})`,
    });
    // Give late retries a moment to show up if they were going to double-process.
    await new Promise((r) => setTimeout(r, 1500));

    const counts = [...receiver.processedByKey.values()];
    expect(receiver.processedByKey.size).toBe(RUNS);
    expect(counts.every((n) => n === 1)).toBe(true);
    expect(receiver.attempts.filter((a) => !a.signatureValid)).toHaveLength(0);
    const { rows } = await stack.pool.query<{ type: string; n: number }>(
      `SELECT type, count(*)::int AS n FROM events WHERE stream_id LIKE 'delivery:%' AND type IN ('DeliveryRequested', 'DeliverySucceeded', 'DeliveryFailed') GROUP BY type ORDER BY type`,
    );
    expect(rows).toEqual([
      { type: 'DeliveryRequested', n: RUNS },
      { type: 'DeliverySucceeded', n: RUNS },
    ]);
    const requested = await stack.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events WHERE type = 'ToolCallSucceeded' AND data->>'tool' = 'webhook_post'`,
    );
    expect(requested.rows[0]!.n).toBe(RUNS);
    // Report what it took (attempts beyond one are retries the receiver absorbed).
    process.stdout.write(
      `webhook exactly-once: seed ${seed}, kills [${kills.join(', ')}], ${receiver.attempts.length} requests for ${RUNS} keys\n`,
    );
  });
});

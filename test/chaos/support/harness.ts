import {
  finalReply,
  startScriptedModel,
  startWebhookReceiver,
  toolCallsReply,
  waitFor,
  type ScriptedModel,
  type WebhookFault,
  type WebhookReceiver,
} from '@keel/testing';
import { uuidv7 } from '@keel/contracts';
import { Scenarios, submitRun, textOf } from '../../support/scenarios';
import { startStack, type KeelStack, type ServiceName } from '../../support/stack';
import { webhookEffects } from './effects';
import { checkInvariants, expectInvariants, type InvariantReport } from './invariants';
import { recordScenario } from './summary';

export const WEBHOOK_SECRET = 'chaos-suite-webhook-secret';

/**
 * One chaos scenario's world: the services as processes, a scripted model and
 * a real webhook receiver. Runs submitted with `submitWebhookRuns` each make
 * one webhook call (`webhook_post`, delivered by the outbox), so every run has
 * exactly one external effect the receiver can count.
 */
export interface ChaosWorld {
  readonly stack: KeelStack;
  readonly model: ScriptedModel;
  readonly receiver: WebhookReceiver;
  readonly scenarios: Scenarios;
  close(): Promise<void>;
}

export async function startChaosWorld(
  opts: {
    env?: Record<string, string>;
    databaseUrl?: string;
    nats?: { url: string; prefix: string };
    services?: readonly ServiceName[];
    webhookFault?: (attempt: number, key: string) => WebhookFault | undefined;
  } = {},
): Promise<ChaosWorld> {
  const receiver = await startWebhookReceiver({
    secret: WEBHOOK_SECRET,
    ...(opts.webhookFault ? { script: (a, r) => opts.webhookFault!(a, r.key) } : {}),
  });
  const scenarios = new Scenarios();
  const model = await startScriptedModel(scenarios.script);
  try {
    const stack = await startStack({
      modelBaseUrl: model.baseUrl,
      ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
      ...(opts.nats ? { nats: opts.nats } : {}),
      ...(opts.services ? { services: opts.services } : {}),
      env: {
        KEEL_WEBHOOK_ALLOWED_HOSTS: new URL(receiver.url).host,
        KEEL_WEBHOOK_SECRET: WEBHOOK_SECRET,
        KEEL_DELIVERY_TIMEOUT_MS: '1000',
        KEEL_DELIVERY_RETRY_BASE_MS: '100',
        KEEL_DELIVERY_RETRY_CAP_MS: '1000',
        KEEL_REVIEW_ENABLED: 'false',
        KEEL_RELAY_POLL_MS: '100',
        // Redeliveries after a kill come in seconds, not the production 30 s (test-only knob).
        KEEL_TEST_ACK_WAIT_MS: '3000',
        ...opts.env,
      },
    });
    return {
      stack,
      model,
      receiver,
      scenarios,
      async close() {
        await stack.stop();
        await model.close();
        await receiver.close();
      },
    };
  } catch (err) {
    await model.close();
    await receiver.close();
    throw err;
  }
}

/** The scripted model's side of a webhook run: call `webhook_post` once, then answer. */
export function addWebhookScenario(world: ChaosWorld, name: string): string {
  return world.scenarios.add(name, (req) =>
    req.messages.some((m) => m.role === 'tool')
      ? finalReply('sent')
      : toolCallsReply([
          {
            name: 'webhook_post',
            arguments: {
              url: world.receiver.url,
              body: { order: /order-[\w-]+/.exec(textOf(req.messages[1]))?.[0] ?? 'none' },
            },
          },
        ]),
  );
}

/**
 * Submit `n` webhook runs through the NATS ingress; returns their run ids.
 * A publish that fails (the test's own connection still reconnecting after a
 * NATS fault) is retried with the same request id: JetStream dedupes it, and
 * the run id is derived from it, so a retry never makes a second run.
 */
export async function submitWebhookRuns(
  world: ChaosWorld,
  scenario: string,
  n: number,
  tag: string,
): Promise<string[]> {
  const runs = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const over = {
        requestId: `req-${tag}-${i}-${uuidv7()}`,
        tools: ['webhook_post'],
        prompt: `order-${tag}-${String(i).padStart(4, '0')}`,
      };
      return waitFor(() => submitRun(world.stack, scenario, over), {
        timeoutMs: 60_000,
        intervalMs: 500,
        description: `run request ${over.requestId} published`,
      });
    }),
  );
  return runs.map((r) => r.runId);
}

/** Effects counted per logical order (the body's `order`), not per idempotency key. */
export const orderEffects = (world: ChaosWorld) =>
  webhookEffects(world.receiver, (body, key) =>
    typeof body === 'object' && body !== null && 'order' in body ? String(body.order) : key,
  );

/**
 * The end of every scenario: check the invariants, record the summary row,
 * then fail the test with every violation (the row is recorded either way).
 */
export async function finishScenario(
  world: ChaosWorld,
  row: { scenario: string; runIds: readonly string[]; faults: number; expectedEffects?: number },
  extra: { ackedEventIds?: readonly string[]; settleTimeoutMs?: number } = {},
): Promise<InvariantReport> {
  const report = await checkInvariants({
    stack: world.stack,
    runIds: row.runIds,
    effects: orderEffects(world),
    ...(row.expectedEffects !== undefined ? { expectedEffectKeys: row.expectedEffects } : {}),
    ...extra,
  });
  recordScenario({
    scenario: row.scenario,
    runs: report.runs,
    faults: row.faults,
    finalStates: report.finalStates,
    duplicates: report.duplicates,
    lostEvents: report.lostEvents,
  });
  if (report.violations.length > 0) dumpLogs(world);
  expectInvariants(report);
  return report;
}

/** The last lines of every service, for a failing scenario. */
export function dumpLogs(world: ChaosWorld): void {
  for (const [name, h] of world.stack.services)
    process.stderr.write(
      `--- ${name} (exit ${JSON.stringify(h.exit)}) ---\n${h.logs().slice(-3000)}\n`,
    );
}

/** SIGKILL a service and start it again (optionally with extra env, e.g. a fault hook). */
export async function killAndRestart(
  world: ChaosWorld,
  service: ServiceName,
  env: Record<string, string> = {},
): Promise<void> {
  const handle = world.stack.services.get(service);
  if (handle) {
    handle.kill('SIGKILL');
    await handle.exited;
  }
  await world.stack.start(service, service, env);
}

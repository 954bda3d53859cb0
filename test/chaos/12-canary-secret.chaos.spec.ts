import { randomUUID } from 'node:crypto';
import {
  finalReply,
  startMcpHttpServer,
  startOtlpReceiver,
  startScriptedModel,
  startWebhookReceiver,
  toolCallsReply,
  waitFor,
  type McpHttpServer,
  type OtlpReceiver,
  type ScriptedModel,
  type WebhookReceiver,
} from '@keel/testing';
import { Scenarios, submitRun, waitForEvent } from '../support/scenarios';
import { deadLettersOf, startStack, type KeelStack } from '../support/stack';
import { checkInvariants, expectInvariants } from './support/invariants';
import { chaosScale, recordScenario } from './support/summary';

jest.setTimeout(chaosScale().full ? 600_000 : 180_000);

/**
 * Scenario 12: canaries. A random `CANARY-<uuid>` is the run's input (the
 * model echoes it into tool arguments and its answer), and another is every
 * credential the run's tools and model use: the model API key (sent as
 * `Authorization`), an MCP server's `authorization` header, and the webhook
 * signing secret. With tracing exported to a local OTLP receiver and every
 * service's stdout/stderr captured, and a dead letter forced for the run
 * (the webhook receiver refuses the delivery), neither canary may appear in
 * any log line, any span (attributes, events, status), or any dead letter —
 * except the input inside a dead letter's original payload, which the DLQ
 * keeps by design so the message can be redriven.
 */
describe('chaos 12: canary secrets never leak into logs, traces or dead letters', () => {
  const scale = chaosScale();
  const input = `CANARY-${randomUUID()}`;
  const secret = `CANARY-${randomUUID()}`;
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let mcp: McpHttpServer;
  let hooks: WebhookReceiver;
  let otlp: OtlpReceiver;
  let stack: KeelStack;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    model = await startScriptedModel(scenarios.script);
    mcp = await startMcpHttpServer();
    // Refuses every delivery for good (400): the outbox dead-letters it.
    hooks = await startWebhookReceiver({ secret, script: () => ({ status: 400 }) });
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      otlpEndpoint: otlp.endpoint,
      env: {
        KEEL_LOG_LEVEL: 'debug',
        KEEL_TRACE_SAMPLE_RATIO: '1',
        KEEL_REVIEW_ENABLED: 'false',
        KEEL_MODEL_API_KEY: secret,
        KEEL_WEBHOOK_SECRET: secret,
        KEEL_WEBHOOK_ALLOWED_HOSTS: new URL(hooks.url).host,
        KEEL_MCP_SERVERS: JSON.stringify([
          {
            name: 'remote',
            transport: 'http',
            url: mcp.url,
            headers: { authorization: `Bearer ${secret}` },
          },
        ]),
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
    await mcp?.close();
    await hooks?.close();
    await otlp?.close();
  });

  it('neither canary appears in any log line, span or dead letter', async () => {
    const name = scenarios.add('canary', (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? finalReply(`done; you said ${input}`)
        : toolCallsReply([
            { name: 'mcp_remote_add', arguments: { a: 2, b: 3 } },
            { name: 'calculator', arguments: { expression: '6 * 7' } },
            { name: 'webhook_post', arguments: { url: hooks.url, body: { note: input } } },
          ]),
    );
    const tools = ['mcp_remote_add', 'calculator', 'webhook_post'];
    const runs = await Promise.all(
      Array.from({ length: scale.runs(10, 2) }, () =>
        submitRun(stack, name, { prompt: `Remember ${input} and report it.`, tools }),
      ),
    );
    for (const r of runs) {
      const events = await waitForEvent(stack.pool, r.runId, 'RunCompleted');
      expect(String(events.at(-1)!.data.answer)).toContain(input);
    }
    // The credentials did their job: the model got the key, the receiver a valid signature.
    expect(model.requests.some((r) => r.headers.authorization === `Bearer ${secret}`)).toBe(true);
    await waitFor(() => hooks.attempts.length >= runs.length, {
      timeoutMs: 30_000,
      description: 'a webhook attempt per run',
    });
    expect(hooks.attempts.every((a) => a.signatureValid)).toBe(true);

    // A dead letter for every run: the refused delivery, ingested by the budget guard too.
    const letters = await waitFor(
      async () => {
        const found = await deadLettersOf(stack, stack.names.consumers.outboxDeliveries);
        return found.length >= runs.length ? found : undefined;
      },
      { timeoutMs: 60_000, description: 'a dead-lettered delivery per run' },
    );
    expect(new Set(letters.map((l) => l.runId))).toEqual(new Set(runs.map((r) => r.runId)));
    const ingested = await waitFor(
      async () => {
        const { rows } = await stack.pool.query<Record<string, unknown>>(
          `SELECT * FROM dead_letters WHERE consumer = $1`,
          [stack.names.consumers.outboxDeliveries],
        );
        return rows.length >= runs.length ? rows : undefined;
      },
      { timeoutMs: 30_000, description: 'the dead letters ingested' },
    );

    const report = await checkInvariants({ stack, runIds: runs.map((r) => r.runId) });

    // Stop the services (their last spans flush on shutdown) before searching.
    for (const h of stack.services.values()) h.kill('SIGTERM');
    await Promise.all([...stack.services.values()].map((h) => h.exited));

    const leaks: string[] = [];
    const search = (where: string, text: string) => {
      for (const [label, canary] of [
        ['input', input],
        ['secret', secret],
      ] as const)
        if (text.includes(canary)) leaks.push(`${label} canary in ${where}`);
    };
    for (const h of stack.services.values())
      h.logs()
        .split('\n')
        .forEach((line, i) => search(`${h.name} log line ${i + 1}: ${line.slice(0, 200)}`, line));
    const exports = otlp.rawExports();
    expect(exports.length).toBeGreaterThan(0);
    const services = new Set(otlp.spans().map((s) => s.service));
    expect(services.size).toBeGreaterThanOrEqual(3);
    exports.forEach((body, i) => search(`OTLP export ${i + 1}`, body));
    // Controls: the run is in the logs and traces searched, so a leak would be seen.
    const first = runs[0]!.runId;
    expect([...stack.services.values()].some((h) => h.logs().includes(first))).toBe(true);
    expect(exports.some((body) => body.includes(first))).toBe(true);
    for (const l of letters) {
      const { payloadBase64, ...rest } = l;
      search(`dead letter of ${l.runId} (${l.code})`, JSON.stringify(rest));
      // The original message is kept for redrive; a credential must never be in it.
      const original = Buffer.from(payloadBase64, 'base64').toString('utf8');
      expect(original).toContain(input); // control: the search sees what is there
      if (original.includes(secret)) leaks.push(`secret canary in the payload of ${l.runId}`);
    }
    for (const row of ingested) {
      const { payload, ...rest } = row;
      search(`dead_letters row ${String(row.id)}`, JSON.stringify(rest));
      if (Buffer.isBuffer(payload) && payload.toString('utf8').includes(secret))
        leaks.push(`secret canary in the stored payload of row ${String(row.id)}`);
    }
    // Nor anywhere in the log of events (the record holds the input, never a credential).
    const { rows } = await stack.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events WHERE data::text LIKE $1 OR metadata::text LIKE $1`,
      [`%${secret}%`],
    );
    if (rows[0]!.n > 0) leaks.push(`secret canary in ${rows[0]!.n} event(s)`);

    recordScenario({
      scenario: '12-canary-secret',
      runs: report.runs,
      faults: letters.length,
      finalStates: report.finalStates,
      duplicates: report.duplicates,
      lostEvents: report.lostEvents,
    });
    expect(leaks).toEqual([]);
    expectInvariants(report);
  });
});

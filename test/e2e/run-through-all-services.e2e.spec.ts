import { headers as natsHeaders, JSONCodec } from 'nats';
import { runIdFor, streamIds, uuidv7, type RunRequestInput } from '@keel/contracts';
import {
  calculatorScript,
  startOtlpReceiver,
  startScriptedModel,
  waitFor,
  type OtlpReceiver,
  type ScriptedModel,
} from '@keel/testing';
import { startStack, streamTypes, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

const json = JSONCodec();

describe('a run through all four services', () => {
  let model: ScriptedModel;
  let otlp: OtlpReceiver;
  let stack: KeelStack;

  beforeAll(async () => {
    model = await startScriptedModel(calculatorScript('(17 + 25) * 3', 'The answer is '));
    otlp = await startOtlpReceiver();
    stack = await startStack({ modelBaseUrl: model.baseUrl, otlpEndpoint: otlp.endpoint });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
    await otlp?.close();
  });

  const request: RunRequestInput = {
    requestId: `req-${uuidv7()}`,
    tenant: 'acme',
    input: { prompt: 'What is (17 + 25) * 3?' },
    tools: ['calculator'],
  };
  const runId = runIdFor('acme', request.requestId);

  const publishRequest = async (msgID: string) => {
    const h = natsHeaders();
    await stack.js.publish(stack.names.subjects.runRequest.build(), json.encode(request), {
      msgID,
      headers: h,
    });
  };

  it('completes the run with the model’s answer, every hop recorded in order', async () => {
    await publishRequest(request.requestId);

    const runStream = streamIds.run(runId);
    await waitFor(async () => (await streamTypes(stack.pool, runStream)).includes('RunCompleted'), {
      timeoutMs: 30_000,
      description: 'RunCompleted in the log',
    });
    expect(await streamTypes(stack.pool, runStream)).toEqual([
      'RunRequested',
      'ModelDecisionRecorded',
      'ToolCallRequested',
      'ToolResultRecorded',
      'ModelDecisionRecorded',
      'RunCompleted',
    ]);
    const { rows } = await stack.pool.query<{ data: { answer: string; steps: number } }>(
      `SELECT data FROM events WHERE stream_id = $1 AND type = 'RunCompleted'`,
      [runStream],
    );
    expect(rows[0]!.data.answer).toBe('The answer is 126');
    expect(rows[0]!.data.steps).toBe(2);

    // Each service wrote its own stream: the budget guard reserved before each
    // model call and settled after it (the last settle is sent after the run's
    // commit, so it may land a moment later); the tool executor recorded the call.
    const budgetStream = streamIds.budget(runId);
    await waitFor(async () => (await streamTypes(stack.pool, budgetStream)).length >= 4, {
      timeoutMs: 10_000,
      description: 'the last budget settle',
    });
    expect(await streamTypes(stack.pool, budgetStream)).toEqual([
      'BudgetReserved',
      'BudgetSettled',
      'BudgetReserved',
      'BudgetSettled',
    ]);
    const toolStreams = await stack.pool.query<{
      stream_id: string;
      type: string;
      producer: string;
    }>(
      `SELECT stream_id, type, metadata->>'producer' AS producer FROM events WHERE stream_id LIKE 'toolcall:%'`,
    );
    expect(toolStreams.rows).toEqual([
      expect.objectContaining({ type: 'ToolCallSucceeded', producer: 'tool-executor' }),
    ]);
    expect(model.requests).toHaveLength(2);

    // RunCompleted was relayed to JetStream too (no shortcut around the log).
    const subject = stack.names.subjects.event.build('run', '_', 'RunCompleted', runId);
    const relayed = await waitFor(
      () =>
        stack.jsm.streams
          .getMessage(stack.names.streams.events, { last_by_subj: subject })
          .catch(() => undefined),
      { timeoutMs: 10_000, description: 'RunCompleted on JetStream' },
    );
    expect(relayed.json<{ type: string }>().type).toBe('RunCompleted');
  });

  it('a duplicate request (same request id, new message id) starts no second run', async () => {
    await publishRequest(`retry-of-${request.requestId}`);
    const ingress = stack.names.streams.ingress;
    const durable = stack.names.consumers.plannerIngress;
    await waitFor(
      async () => {
        const info = await stack.jsm.consumers.info(ingress, durable);
        return (
          info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq >= 2
        );
      },
      { timeoutMs: 15_000, description: 'the ingress consumer to settle the duplicate' },
    );
    const { rows } = await stack.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM events WHERE type = 'RunRequested'`,
    );
    expect(Number(rows[0]!.n)).toBe(1);
    expect(await streamTypes(stack.pool, streamIds.run(runId))).toHaveLength(6);
    expect(model.requests).toHaveLength(2);
  });

  it('exports one trace for the run: its services, and each publish a parent of its consumer', async () => {
    const { rows } = await stack.pool.query<{ traceparent: string }>(
      `SELECT metadata->>'traceparent' AS traceparent FROM events WHERE stream_id = $1 AND stream_version = 1`,
      [streamIds.run(runId)],
    );
    const traceId = rows[0]!.traceparent.split('-')[1]!;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    // The outbox takes part only when it has work of the run's (a delivery, or an event
    // whose writer's publish was lost): this run has none, its writers publish every event.
    const spans = await waitFor(
      () => {
        const inTrace = otlp.spans().filter((s) => s.traceId === traceId);
        const services = new Set(inTrace.map((s) => s.service));
        const processed = inTrace.some(
          (s) => s.service === 'planner' && s.name.includes('planner-tool-results'),
        );
        return services.size === 3 && processed ? inTrace : undefined;
      },
      {
        timeoutMs: 20_000,
        description: 'spans from planner, tool-executor and budget-guard in the run’s trace',
      },
    );
    expect([...new Set(spans.map((s) => s.service))].sort()).toEqual([
      'budget-guard',
      'planner',
      'tool-executor',
    ]);
    // Writers publish their events as PRODUCER spans, and the consumer's span is their child.
    const PRODUCER = 4;
    const span = (service: string, name: (n: string) => boolean) =>
      spans.find((s) => s.service === service && name(s.name));
    const hops = [
      ['planner', 'publish ToolCallRequested', 'tool-executor', 'tool-pool-default'],
      ['tool-executor', 'publish ToolCallSucceeded', 'planner', 'planner-tool-results'],
    ] as const;
    for (const [writer, publish, consumer, durable] of hops) {
      const published = span(writer, (n) => n === publish);
      expect(published?.kind).toBe(PRODUCER);
      expect(span(consumer, (n) => n.endsWith(`/${durable}`))?.parentSpanId).toBe(
        published?.spanId,
      );
    }
    // Each model call's HTTP request is a CLIENT span under the planner's gen_ai span.
    const CLIENT = 3;
    const chats = spans.filter((s) => s.service === 'planner' && s.name.startsWith('chat '));
    const posts = spans.filter((s) => s.service === 'planner' && s.name === 'POST');
    expect(chats.length).toBeGreaterThan(0);
    for (const chat of chats) {
      // A child ends (and is exported) no later than its parent.
      const post = posts.find((p) => p.parentSpanId === chat.spanId);
      expect(post?.kind).toBe(CLIENT);
    }
    // Prompts never become span attributes.
    const leaked = otlp
      .spans()
      .filter((s) => JSON.stringify(s.attributes).includes('(17 + 25) * 3'));
    expect(leaked).toEqual([]);
  });
});

import { JSONCodec, StringCodec } from 'nats';
import { MAX_RUN_REQUEST_BYTES, runIdFor, streamIds } from '@keel/contracts';
import { calculatorScript, startScriptedModel, waitFor, type ScriptedModel } from '@keel/testing';
import { deadLettersOf, startStack, streamTypes, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

/**
 * Poison messages on the ingress subject are dead-lettered with their reason;
 * the consumer keeps going and a good request behind them still runs.
 * Size limit: a run request may be at most MAX_RUN_REQUEST_BYTES (256 KiB).
 */
describe('bad input on the ingress subject', () => {
  let model: ScriptedModel;
  let stack: KeelStack;

  beforeAll(async () => {
    model = await startScriptedModel(calculatorScript('2 + 2', 'It is '));
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      services: ['planner', 'budget-guard', 'tool-executor', 'outbox'],
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  it('dead-letters non-JSON, schema-invalid and oversize requests with reasons, and keeps consuming', async () => {
    const subject = stack.names.subjects.runRequest.build();
    const sc = StringCodec();
    await stack.js.publish(subject, sc.encode('{not json'), { msgID: 'bad-1' });
    await stack.js.publish(
      subject,
      JSONCodec().encode({ requestId: 'r', tenant: 'ACME!', input: {} }),
      { msgID: 'bad-2' },
    );
    const big = {
      requestId: 'big',
      tenant: 'acme',
      input: { prompt: 'x'.repeat(MAX_RUN_REQUEST_BYTES + 10) },
      tools: [],
    };
    await stack.js.publish(subject, JSONCodec().encode(big), { msgID: 'bad-3' });
    const good = {
      requestId: 'good-1',
      tenant: 'acme',
      input: { prompt: 'What is 2 + 2?' },
      tools: ['calculator'],
    };
    await stack.js.publish(subject, JSONCodec().encode(good), { msgID: 'good-1' });

    const letters = await waitFor(
      async () => {
        const found = await deadLettersOf(stack, stack.names.consumers.plannerIngress);
        return found.length >= 3 ? found : undefined;
      },
      { timeoutMs: 20_000, description: 'three dead letters from the ingress consumer' },
    );
    expect(letters.map((l) => l.code).sort()).toEqual([
      'INVALID_JSON',
      'SCHEMA_INVALID',
      'TOO_LARGE',
    ]);
    const schemaInvalid = letters.find((l) => l.code === 'SCHEMA_INVALID')!;
    expect(schemaInvalid.reason).toMatch(/tenant/);
    expect(
      Buffer.from(
        letters.find((l) => l.code === 'INVALID_JSON')!.payloadBase64,
        'base64',
      ).toString(),
    ).toBe('{not json');
    expect(letters.find((l) => l.code === 'TOO_LARGE')!.payloadBytes).toBeGreaterThan(
      MAX_RUN_REQUEST_BYTES,
    );

    const runStream = streamIds.run(runIdFor('acme', 'good-1'));
    await waitFor(async () => (await streamTypes(stack.pool, runStream)).includes('RunCompleted'), {
      timeoutMs: 30_000,
      description: 'the good request behind the poison ones to complete',
    });
    const { rows } = await stack.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM events WHERE type = 'RunRequested'`,
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });
});

import { sequenceScript, startScriptedModel, type ScriptedModel } from '@keel/testing';
import { ModelCallError } from './model-client';
import { OpenAiChatModel } from './openai-chat-model';

/** The OpenAI adapter (SDK + keep-alive fetch) against a real HTTP server speaking the protocol. */
describe('OpenAiChatModel against the scripted model server', () => {
  let server: ScriptedModel;
  const call = (model: OpenAiChatModel) =>
    model.complete({
      messages: [{ role: 'user', content: 'hi' }],
      tools: [],
      maxOutputTokens: 64,
      idempotencyKey: 'run:1',
    });

  afterEach(() => server?.close());

  it('maps tool calls, their note, and usage; sends the step key as Idempotency-Key', async () => {
    server = await startScriptedModel(
      sequenceScript([
        {
          toolCalls: [{ name: 'noop', arguments: { note: 'x' } }],
          content: '{"final":true}',
          usage: { promptTokens: 11, completionTokens: 7 },
        },
      ]),
    );
    const reply = await call(
      new OpenAiChatModel({ baseURL: server.baseUrl, apiKey: 'k', timeoutMs: 5000 }, 'm'),
    );
    expect(reply.reply).toEqual({
      kind: 'tool_calls',
      calls: [{ name: 'noop', argumentsJson: '{"note":"x"}' }],
      note: '{"final":true}',
    });
    expect(reply.usage).toEqual({ inputTokens: 11, outputTokens: 7 });
    expect(server.requests[0]!.headers['idempotency-key']).toBe('run:1');
  });

  it('maps a text reply to a final answer', async () => {
    server = await startScriptedModel(sequenceScript([{ content: 'forty-two' }]));
    const reply = await call(
      new OpenAiChatModel({ baseURL: server.baseUrl, apiKey: 'k', timeoutMs: 5000 }, 'm'),
    );
    expect(reply.reply).toEqual({ kind: 'text', text: 'forty-two' });
  });

  it('429 is retryable and honours Retry-After; 400 is permanent', async () => {
    server = await startScriptedModel(
      sequenceScript([
        { fault: 'status', status: 429, retryAfterSeconds: 3 },
        { fault: 'status', status: 400 },
      ]),
    );
    const model = new OpenAiChatModel(
      { baseURL: server.baseUrl, apiKey: 'k', timeoutMs: 5000 },
      'm',
    );
    await expect(call(model)).rejects.toMatchObject({
      code: 'MODEL_HTTP_429',
      retryable: true,
      retryAfterMs: 3000,
    });
    await expect(call(model)).rejects.toMatchObject({ code: 'MODEL_HTTP_400', retryable: false });
    expect(server.requests).toHaveLength(2); // the SDK's own retries are off
  });

  it('a hung provider times out (retryable); a dropped connection is retryable', async () => {
    server = await startScriptedModel(sequenceScript([{ fault: 'hang' }, { fault: 'drop' }]));
    const model = new OpenAiChatModel(
      { baseURL: server.baseUrl, apiKey: 'k', timeoutMs: 300 },
      'm',
    );
    const hung = await call(model).catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(ModelCallError);
    expect(hung).toMatchObject({ code: 'MODEL_TIMEOUT', retryable: true });
    const dropped = await call(model).catch((e: unknown) => e);
    expect(dropped).toMatchObject({ code: 'MODEL_CONNECTION', retryable: true });
  });
});

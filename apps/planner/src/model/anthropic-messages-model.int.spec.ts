import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ChatMessage } from '@keel/run-domain';
import {
  calculatorScript,
  finalReply,
  sequenceScript,
  toolCallsReply,
  startScriptedModel,
  type ModelScript,
  type ScriptedModel,
  type ScriptedReply,
} from '@keel/testing';
import { AnthropicMessagesModel } from './anthropic-messages-model';
import { ModelCallError, type ModelCallArgs, type ToolSpec } from './model-client';

const calculator: ToolSpec = {
  name: 'calculator',
  description: 'Evaluates an arithmetic expression',
  parameters: {
    type: 'object',
    properties: { expression: { type: 'string' } },
    required: ['expression'],
  },
};

/**
 * Contract test of the Anthropic adapter (official SDK + keep-alive fetch)
 * against a real HTTP server speaking the Messages protocol: the assertions
 * are on what went over the wire, in Anthropic's own format.
 */
describe('AnthropicMessagesModel against the scripted model server', () => {
  let server: ScriptedModel | undefined;
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  beforeAll(() => trace.setGlobalTracerProvider(provider));
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    exporter.reset();
  });

  const start = async (script: ModelScript | ScriptedReply[], timeoutMs = 5000) => {
    server = await startScriptedModel(Array.isArray(script) ? sequenceScript(script) : script);
    const model = new AnthropicMessagesModel({
      provider: 'anthropic-test',
      baseURL: server.anthropicBaseUrl,
      apiKey: 'sk-ant-test-key',
      timeoutMs,
      model: 'claude-test',
    });
    return { server, model };
  };
  const call = (model: AnthropicMessagesModel, over: Partial<ModelCallArgs> = {}) =>
    model.complete({
      messages: [{ role: 'user', content: 'hi' }],
      tools: [],
      maxOutputTokens: 64,
      idempotencyKey: 'run:1:step:1',
      mode: 'native',
      ...over,
    });
  const failure = (model: AnthropicMessagesModel, over: Partial<ModelCallArgs> = {}) =>
    call(model, over).then(
      () => {
        throw new Error('expected the call to fail');
      },
      (e: unknown) => {
        expect(e).toBeInstanceOf(ModelCallError);
        return e as ModelCallError;
      },
    );

  it('round-trips a multi-turn conversation with tool use and tool results', async () => {
    const { server, model } = await start(calculatorScript('6*7', 'The answer is '));
    const transcript: ChatMessage[] = [
      { role: 'system', content: 'You are a calculator.' },
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 6*7?' },
    ];

    // Turn 1: the model asks for the tool.
    const first = await call(model, { messages: transcript, tools: [calculator] });
    expect(first.reply).toEqual({
      kind: 'tool_calls',
      calls: [{ name: 'calculator', argumentsJson: '{"expression":"6*7"}' }],
      note: toolCallsReply([]).content,
    });

    // Keel assigns its own call ids (UUIDs); two calls this time, with a note.
    const ids = ['0b6f3c1e-5a2d-5f4e-9c3b-1a2b3c4d5e6f', '7d1e2f3a-4b5c-5d6e-8f70-8192a3b4c5d6'];
    transcript.push(
      {
        role: 'assistant',
        content: '{"reasoning":"compute"}',
        toolCalls: [
          { id: ids[0]!, name: 'calculator', arguments: { expression: '6*7' } },
          { id: ids[1]!, name: 'calculator', arguments: { expression: '0' } },
        ],
      },
      { role: 'tool', toolCallId: ids[0]!, content: '{"error":"ignored"}' },
      { role: 'tool', toolCallId: ids[1]!, content: '{"value":42}' },
    );
    const second = await call(model, { messages: transcript, tools: [calculator] });
    expect(second.reply).toEqual({ kind: 'text', text: finalReply('The answer is 42').content });

    // What went over the wire, in Anthropic's format.
    const wire = server.requests[1]!.anthropicBody!;
    expect(server.requests[1]!.protocol).toBe('anthropic');
    expect(server.requests[1]!.path).toBe('/v1/messages');
    expect(wire.system).toBe('You are a calculator.\n\nBe brief.');
    expect(wire.model).toBe('claude-test');
    expect(wire.max_tokens).toBe(64);
    expect(wire.tools).toEqual([
      {
        name: 'calculator',
        description: calculator.description,
        input_schema: calculator.parameters,
      },
    ]);
    expect(wire.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'What is 6*7?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: '{"reasoning":"compute"}' },
          { type: 'tool_use', id: ids[0], name: 'calculator', input: { expression: '6*7' } },
          { type: 'tool_use', id: ids[1], name: 'calculator', input: { expression: '0' } },
        ],
      },
      // Both results in ONE user turn, right after the tool_use turn, ids matching.
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: ids[0], content: '{"error":"ignored"}' },
          { type: 'tool_result', tool_use_id: ids[1], content: '{"value":42}' },
        ],
      },
    ]);
    // ... and as the script saw it (translated to the chat-completions shape).
    expect(server.requests[1]!.body.messages.map((m) => m.role)).toEqual([
      'system',
      'user',
      'assistant',
      'tool',
      'tool',
    ]);
    expect(server.requests[1]!.body.messages[2]!.tool_calls!.map((c) => c.id)).toEqual(ids);
    expect(server.requests[1]!.body.messages.slice(3).map((m) => m.tool_call_id)).toEqual(ids);
    expect(server.rejected).toEqual([]);
  });

  it('merges adjacent turns of one role and leaves out empty text', async () => {
    const { server, model } = await start([{ content: 'ok' }]);
    await call(model, {
      messages: [
        { role: 'user', content: 'first' },
        { role: 'user', content: 'second' },
        { role: 'assistant', content: '' },
        { role: 'assistant', content: 'answer' },
        { role: 'assistant', content: 'more' },
        { role: 'user', content: 'again' },
      ],
    });
    const wire = server.requests[0]!.anthropicBody!;
    expect(wire.system).toBeUndefined();
    expect(wire.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'first' },
          { type: 'text', text: 'second' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'answer' },
          { type: 'text', text: 'more' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'again' }] },
    ]);
  });

  it('maps tool_use blocks and their text note, text replies and usage; sends Idempotency-Key', async () => {
    const { server, model } = await start([
      {
        toolCalls: [
          { name: 'noop', arguments: { note: 'x' } },
          { name: 'calculator', arguments: { expression: '1+1' } },
        ],
        content: '{"final":true}',
        usage: { promptTokens: 11, completionTokens: 7 },
      },
      { content: 'forty-two', usage: { promptTokens: 3, completionTokens: 2 } },
    ]);
    expect(model).toMatchObject({
      provider: 'anthropic-test',
      system: 'anthropic',
      model: 'claude-test',
    });
    const tools = await call(model, { tools: [calculator] });
    expect(tools).toMatchObject({
      reply: {
        kind: 'tool_calls',
        calls: [
          { name: 'noop', argumentsJson: '{"note":"x"}' },
          { name: 'calculator', argumentsJson: '{"expression":"1+1"}' },
        ],
        note: '{"final":true}',
      },
      model: 'claude-test',
      usage: { inputTokens: 11, outputTokens: 7 },
    });
    expect(tools.latencyMs).toBeGreaterThan(0);
    const text = await call(model);
    expect(text.reply).toEqual({ kind: 'text', text: 'forty-two' });
    expect(text.usage).toEqual({ inputTokens: 3, outputTokens: 2 });

    const headers = server.requests[0]!.headers;
    expect(headers['idempotency-key']).toBe('run:1:step:1');
    // SDK 1.x sends the API key as a bearer token, not as `x-api-key`.
    expect(headers['authorization']).toBe('Bearer sk-ant-test-key');
    expect(headers['anthropic-version']).toEqual(expect.any(String));
    expect(headers['x-stainless-retry-count']).toBe('0');
  });

  it('json mode sends no tools (and nothing else new)', async () => {
    const { server, model } = await start([{ content: '{"kind":"final"}' }]);
    const reply = await call(model, {
      mode: 'json',
      tools: [calculator],
      responseSchema: { type: 'object' },
    });
    expect(reply.reply).toEqual({ kind: 'text', text: '{"kind":"final"}' });
    const wire = server.requests[0]!.anthropicBody!;
    expect(Object.keys(wire).sort()).toEqual(['max_tokens', 'messages', 'model']);
  });

  it('429 with retry-after is transient with retryAfterMs; 529 is transient overloaded', async () => {
    const { server, model } = await start([
      { fault: 'status', status: 429, retryAfterSeconds: 4 },
      { fault: 'status', status: 529 },
      { fault: 'status', status: 500 },
    ]);
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_HTTP_429',
      errorClass: 'transient',
      status: 429,
      retryAfterMs: 4000,
    });
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_OVERLOADED',
      errorClass: 'transient',
      status: 529,
    });
    expect(await failure(model)).toMatchObject({ code: 'MODEL_HTTP_500', errorClass: 'transient' });
    // The SDK's own retries are off: exactly one request per call.
    expect(server.requests).toHaveLength(3);
  });

  it('400 and 401 are permanent; their messages carry no provider text or key', async () => {
    const { server, model } = await start([
      { fault: 'status', status: 400 },
      { fault: 'status', status: 401 },
    ]);
    const badRequest = await failure(model);
    expect(badRequest).toMatchObject({ code: 'MODEL_HTTP_400', errorClass: 'permanent' });
    expect(badRequest.message).toBe('model provider answered 400 (invalid_request_error)');
    const unauthorised = await failure(model);
    expect(unauthorised).toMatchObject({ code: 'MODEL_HTTP_401', errorClass: 'permanent' });
    expect(unauthorised.message).not.toMatch(/x-api-key|sk-ant/);
    expect(server.requests).toHaveLength(2);
  });

  it('billing_error (and 402) is quota', async () => {
    const { model } = await start([
      {
        fault: 'status',
        status: 400,
        body: {
          type: 'error',
          error: {
            type: 'invalid_request_error',
            message: 'Your credit balance is too low to access the Anthropic API.',
          },
        },
      },
      { fault: 'status', status: 402 },
      {
        fault: 'status',
        status: 403,
        body: { type: 'error', error: { type: 'billing_error', message: 'billing' } },
      },
    ]);
    for (const status of [400, 402, 403]) {
      const e = await failure(model);
      expect(e).toMatchObject({ code: 'MODEL_QUOTA', errorClass: 'quota', status });
      expect(e.message).not.toMatch(/credit balance/);
    }
  });

  it('a hung provider times out (MODEL_TIMEOUT); a dropped connection is MODEL_CONNECTION', async () => {
    const { server, model } = await start([{ fault: 'hang' }, { fault: 'drop' }], 300);
    const started = performance.now();
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_TIMEOUT',
      errorClass: 'transient',
    });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_CONNECTION',
      errorClass: 'transient',
    });
    expect(server.requests).toHaveLength(2);
  });

  it('a malformed body is MODEL_BAD_REPLY; a reply without content MODEL_EMPTY_REPLY', async () => {
    const { model } = await start([
      { fault: 'malformed' },
      // A 200 whose body is sent as given: a message with no content blocks.
      {
        fault: 'status',
        status: 200,
        body: {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'claude-test',
          content: [],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: 1, output_tokens: 0 },
        },
      },
    ]);
    const malformed = await failure(model);
    expect(malformed).toMatchObject({ code: 'MODEL_BAD_REPLY', errorClass: 'transient' });
    expect(malformed.message).not.toContain('not json');
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_EMPTY_REPLY',
      errorClass: 'transient',
    });
  });

  it("the caller's abort signal cancels the call (MODEL_ABORTED)", async () => {
    const { model } = await start([{ fault: 'hang' }]);
    const controller = new AbortController();
    const pending = failure(model, { signal: controller.signal });
    while (server!.requests.length < 1) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    expect(await pending).toMatchObject({ code: 'MODEL_ABORTED' });
  });

  it("records Keel's gen_ai span only (the SDK's own spans are off), without content", async () => {
    const { model } = await start([
      { content: 'the secret completion', usage: { promptTokens: 5, completionTokens: 3 } },
      { fault: 'status', status: 529 },
    ]);
    await call(model, { messages: [{ role: 'user', content: 'the secret prompt' }] });
    await failure(model);

    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => [s.name, s.instrumentationScope.name])).toEqual([
      ['chat claude-test', 'keel-planner'],
      ['chat claude-test', 'keel-planner'],
    ]);
    expect(spans[0]!.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.system': 'anthropic',
      'gen_ai.request.model': 'claude-test',
      'gen_ai.response.model': 'claude-test',
      'gen_ai.usage.input_tokens': 5,
      'gen_ai.usage.output_tokens': 3,
    });
    expect(spans[1]!.attributes['error.type']).toBe('MODEL_OVERLOADED');
    expect(JSON.stringify(spans.map((s) => [s.attributes, s.events, s.status]))).not.toMatch(
      /secret/,
    );
  });
});

import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  sequenceScript,
  startScriptedModel,
  type ScriptedModel,
  type ScriptedReply,
} from '@keel/testing';
import { ModelCallError, type ModelCallArgs, type ToolSpec } from './model-client';
import { OpenAiChatModel } from './openai-chat-model';

const calculator: ToolSpec = {
  name: 'calculator',
  description: 'Evaluates an arithmetic expression',
  parameters: { type: 'object', properties: { expression: { type: 'string' } } },
};

/** The OpenAI adapter (lean JSON-over-HTTP client) against a real HTTP server speaking the protocol. */
describe('OpenAiChatModel against the scripted model server', () => {
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

  const start = async (replies: ScriptedReply[], timeoutMs = 5000) => {
    server = await startScriptedModel(sequenceScript(replies));
    const model = new OpenAiChatModel({
      provider: 'openai-test',
      baseURL: server.baseUrl,
      apiKey: 'sk-test-key',
      timeoutMs,
      model: 'm',
    });
    return { server, model };
  };
  const call = (model: OpenAiChatModel, over: Partial<ModelCallArgs> = {}) =>
    model.complete({
      messages: [{ role: 'user', content: 'hi' }],
      tools: [],
      maxOutputTokens: 64,
      idempotencyKey: 'run:1',
      mode: 'native',
      ...over,
    });
  const failure = (model: OpenAiChatModel) =>
    call(model).then(
      () => {
        throw new Error('expected the call to fail');
      },
      (e: unknown) => {
        expect(e).toBeInstanceOf(ModelCallError);
        return e as ModelCallError;
      },
    );

  it('maps tool calls, their note, and usage; sends the step key as Idempotency-Key', async () => {
    const { server, model } = await start([
      {
        toolCalls: [{ name: 'noop', arguments: { note: 'x' } }],
        content: '{"final":true}',
        usage: { promptTokens: 11, completionTokens: 7 },
      },
    ]);
    expect(model).toMatchObject({ provider: 'openai-test', system: 'openai', model: 'm' });
    expect(JSON.stringify(model)).not.toContain('sk-test-key'); // a logged client shows no key
    const reply = await call(model, { tools: [calculator] });
    expect(reply.reply).toEqual({
      kind: 'tool_calls',
      calls: [{ name: 'noop', argumentsJson: '{"note":"x"}' }],
      note: '{"final":true}',
    });
    expect(reply.usage).toEqual({ inputTokens: 11, outputTokens: 7 });
    expect(reply.model).toBe('m');
    const recorded = server.requests[0]!;
    expect(recorded.protocol).toBe('openai');
    expect(recorded.headers['idempotency-key']).toBe('run:1');
    expect(recorded.body.max_tokens).toBe(64);
    expect(recorded.body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'calculator',
          description: calculator.description,
          parameters: calculator.parameters,
        },
      },
    ]);
    expect(recorded.body.response_format).toBeUndefined();
  });

  it('sends the transcript in OpenAI form: tool calls with ids, tool results by id', async () => {
    const { server, model } = await start([{ content: 'done' }]);
    await call(model, {
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'q' },
        {
          role: 'assistant',
          content: null,
          toolCalls: [{ id: 'c1', name: 'calculator', arguments: { expression: '1+1' } }],
        },
        { role: 'tool', toolCallId: 'c1', content: '{"value":2}' },
      ],
    });
    expect(server.requests[0]!.body.messages).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'c1',
            type: 'function',
            function: { name: 'calculator', arguments: '{"expression":"1+1"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: '{"value":2}' },
    ]);
  });

  it('maps a text reply to a final answer', async () => {
    const { model } = await start([{ content: 'forty-two' }]);
    const reply = await call(model);
    expect(reply.reply).toEqual({ kind: 'text', text: 'forty-two' });
  });

  it('json mode: sends response_format (json_schema, or json_object without a schema) and no tools', async () => {
    const { server, model } = await start([{ content: '{"kind":"final"}' }]);
    const schema = { type: 'object', properties: { kind: { type: 'string' } } };
    const reply = await call(model, { mode: 'json', tools: [calculator], responseSchema: schema });
    expect(reply.reply).toEqual({ kind: 'text', text: '{"kind":"final"}' });
    await call(model, { mode: 'json', tools: [calculator] });

    const [withSchema, withoutSchema] = server.requests;
    expect(withSchema!.body.tools).toBeUndefined();
    expect(withSchema!.body.tool_choice).toBeUndefined();
    expect(withSchema!.body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'keel_decision', schema, strict: false },
    });
    expect(withoutSchema!.body.tools).toBeUndefined();
    expect(withoutSchema!.body.response_format).toEqual({ type: 'json_object' });
  });

  it('429 is transient and honours Retry-After; 400 is permanent; no SDK retries', async () => {
    const { server, model } = await start([
      { fault: 'status', status: 429, retryAfterSeconds: 3 },
      { fault: 'status', status: 400 },
    ]);
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_HTTP_429',
      errorClass: 'transient',
      status: 429,
      retryAfterMs: 3000,
    });
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_HTTP_400',
      errorClass: 'permanent',
    });
    expect(server.requests).toHaveLength(2); // the SDK's own retries are off
  });

  it('500, 503 and 529 are transient (529 as overloaded)', async () => {
    const { server, model } = await start([
      { fault: 'status', status: 503, retryAfterSeconds: 1 },
      { fault: 'status', status: 529 },
      { fault: 'status', status: 500 },
    ]);
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_HTTP_503',
      errorClass: 'transient',
      retryAfterMs: 1000,
    });
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_OVERLOADED',
      errorClass: 'transient',
      status: 529,
    });
    expect(await failure(model)).toMatchObject({ code: 'MODEL_HTTP_500', errorClass: 'transient' });
    expect(server.requests).toHaveLength(3);
  });

  it('401, 404 and 422 are permanent, and their messages carry no provider text or key', async () => {
    const { server, model } = await start([
      { fault: 'status', status: 401 },
      { fault: 'status', status: 404 },
      { fault: 'status', status: 422 },
    ]);
    for (const status of [401, 404, 422]) {
      const e = await failure(model);
      expect(e).toMatchObject({ code: `MODEL_HTTP_${status}`, errorClass: 'permanent', status });
      expect(e.message).not.toMatch(/API key|sk-test-key/);
    }
    expect(server.requests).toHaveLength(3);
  });

  it('429 insufficient_quota is quota, not a rate limit', async () => {
    const { model } = await start([
      {
        fault: 'status',
        status: 429,
        retryAfterSeconds: 20,
        body: {
          error: {
            message: 'You exceeded your current quota, please check your plan and billing details.',
            type: 'insufficient_quota',
            param: null,
            code: 'insufficient_quota',
          },
        },
      },
    ]);
    const e = await failure(model);
    expect(e).toMatchObject({ code: 'MODEL_QUOTA', errorClass: 'quota', status: 429 });
    expect(e.retryable).toBe(false);
    expect(e.retryAfterMs).toBeUndefined();
  });

  it('a reply without choices is a transient MODEL_EMPTY_REPLY; a malformed body MODEL_BAD_REPLY', async () => {
    const { model } = await start([
      // A 200 whose body is sent as given: a completion with no choices.
      {
        fault: 'status',
        status: 200,
        body: { id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [] },
      },
      { fault: 'malformed' },
    ]);
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_EMPTY_REPLY',
      errorClass: 'transient',
    });
    const malformed = await failure(model);
    expect(malformed).toMatchObject({ code: 'MODEL_BAD_REPLY', errorClass: 'transient' });
    expect(malformed.message).not.toContain('not json');
  });

  it('a 2xx body of the wrong shape is MODEL_BAD_REPLY; a caller abort is MODEL_ABORTED', async () => {
    const { model } = await start(
      [{ fault: 'status', status: 200, body: { choices: 'not a list' } }, { fault: 'hang' }],
      5000,
    );
    const bad = await failure(model);
    expect(bad).toMatchObject({ code: 'MODEL_BAD_REPLY', errorClass: 'transient' });
    expect(bad.message).toContain('not a chat completion');

    const controller = new AbortController();
    const pending = call(model, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: 'MODEL_ABORTED' });
  });

  it('a hung provider times out (transient); a dropped connection is transient', async () => {
    const { model } = await start([{ fault: 'hang' }, { fault: 'drop' }], 300);
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_TIMEOUT',
      errorClass: 'transient',
    });
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_CONNECTION',
      errorClass: 'transient',
    });
  });

  it('a call after a timeout, a drop or an abort gets a fresh connection and its answer', async () => {
    const { model, server } = await start(
      [
        { fault: 'hang' },
        { content: '{"action":"final","answer":"one"}' },
        { fault: 'drop' },
        { content: '{"action":"final","answer":"two"}' },
        { fault: 'hang' },
        { content: '{"action":"final","answer":"three"}' },
      ],
      300,
    );
    const text = (r: Awaited<ReturnType<typeof call>>) =>
      r.reply.kind === 'text' ? r.reply.text : undefined;
    expect(await failure(model)).toMatchObject({ code: 'MODEL_TIMEOUT' });
    expect(text(await call(model))).toContain('one');
    expect(await failure(model)).toMatchObject({ code: 'MODEL_CONNECTION' });
    expect(text(await call(model))).toContain('two');
    const controller = new AbortController();
    const aborted = call(model, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(aborted).rejects.toMatchObject({ code: 'MODEL_ABORTED' });
    expect(text(await call(model))).toContain('three');
    expect(server.requests).toHaveLength(6);
  });

  it('an already aborted call sends nothing; a closed port is a transient connection failure', async () => {
    const { model, server } = await start([{ content: 'unused' }]);
    const controller = new AbortController();
    controller.abort();
    await expect(call(model, { signal: controller.signal })).rejects.toMatchObject({
      code: 'MODEL_ABORTED',
    });
    expect(server.requests).toHaveLength(0);
    await server.close();
    expect(await failure(model)).toMatchObject({
      code: 'MODEL_CONNECTION',
      errorClass: 'transient',
    });
  });

  it('records one gen_ai span per call, without the prompt or the completion', async () => {
    const { model } = await start([
      { content: 'the secret completion', usage: { promptTokens: 5, completionTokens: 3 } },
      { fault: 'status', status: 503 },
    ]);
    await call(model, { messages: [{ role: 'user', content: 'the secret prompt' }] });
    await failure(model);

    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['chat m', 'chat m']);
    expect(spans[0]!.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'm',
      'gen_ai.response.model': 'm',
      'gen_ai.usage.input_tokens': 5,
      'gen_ai.usage.output_tokens': 3,
    });
    expect(spans[1]!.attributes['error.type']).toBe('MODEL_HTTP_503');
    expect(JSON.stringify(spans.map((s) => [s.attributes, s.events, s.status]))).not.toMatch(
      /secret/,
    );
  });
});

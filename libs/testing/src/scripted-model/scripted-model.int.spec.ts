import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { APIConnectionError, APIError } from 'openai';
import { startScriptedModel, type ScriptedModel } from './server';
import { calculatorScript, finalReply, sequenceScript, toolCallsReply } from './scripts';
import { estimateTokens, promptText } from './responses';
import type { ModelScript } from './types';

/**
 * Contract test: the scripted model must look like the real API to the
 * official SDK, or tests built on it prove nothing about production.
 */
describe('scripted model (driven by the official openai SDK)', () => {
  let model: ScriptedModel | undefined;
  afterEach(async () => {
    await model?.close();
    model = undefined;
  });

  const start = async (script: ModelScript) => {
    model = await startScriptedModel(script);
    return {
      model,
      client: new OpenAI({
        baseURL: model.baseUrl,
        apiKey: 'test',
        maxRetries: 0,
        timeout: 10_000,
      }),
    };
  };

  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
    {
      type: 'function',
      function: {
        name: 'calculator',
        description: 'Evaluates an arithmetic expression',
        parameters: {
          type: 'object',
          properties: { expression: { type: 'string' } },
          required: ['expression'],
        },
      },
    },
  ];

  it('answers with a tool call, then with a final answer after the tool result', async () => {
    const { model, client } = await start(calculatorScript('6*7', 'The answer is '));
    const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are a calculator.' },
      { role: 'user', content: 'What is 6*7?' },
    ];

    const first = await client.chat.completions.create({
      model: 'scripted-1',
      messages,
      tools,
      tool_choice: 'auto',
    });

    expect(first.object).toBe('chat.completion');
    expect(first.model).toBe('scripted-1');
    expect(first.choices[0]!.finish_reason).toBe('tool_calls');
    const call = first.choices[0]!.message.tool_calls![0]!;
    expect(call.id).toBe('call_1');
    expect(call.type).toBe('function');
    if (call.type !== 'function') throw new Error('expected a function tool call');
    expect(call.function.name).toBe('calculator');
    expect(JSON.parse(call.function.arguments)).toEqual({ expression: '6*7' });
    expect(first.usage!.prompt_tokens).toBe(estimateTokens(promptText(messages as never)));
    // The script's note (Keel's decision format) comes with the call and counts as completion.
    const note = toolCallsReply([]).content!;
    expect(first.choices[0]!.message.content).toBe(note);
    expect(first.usage!.completion_tokens).toBe(
      estimateTokens(`${note}calculator${call.function.arguments}`),
    );
    expect(first.usage!.total_tokens).toBe(
      first.usage!.prompt_tokens + first.usage!.completion_tokens,
    );

    messages.push(first.choices[0]!.message, {
      role: 'tool',
      tool_call_id: call.id,
      content: JSON.stringify({ value: 42 }),
    });
    const second = await client.chat.completions.create({ model: 'scripted-1', messages, tools });

    expect(second.choices[0]!.finish_reason).toBe('stop');
    const answer = finalReply('The answer is 42').content;
    expect(second.choices[0]!.message.content).toBe(answer);
    expect(second.usage!.completion_tokens).toBe(estimateTokens(answer));

    // Recorded: the parsed bodies and headers, in order.
    expect(model.requests.map((r) => r.index)).toEqual([0, 1]);
    expect(model.requests.map((r) => r.protocol)).toEqual(['openai', 'openai']);
    expect(model.requests[0]!.anthropicBody).toBeUndefined();
    expect(model.requests[0]!.body.tools![0]!.function.name).toBe('calculator');
    expect(model.requests[0]!.body.tool_choice).toBe('auto');
    expect(model.requests[0]!.headers['authorization']).toBe('Bearer test');
    expect(model.requests[1]!.body.messages.at(-1)).toMatchObject({
      role: 'tool',
      tool_call_id: 'call_1',
    });
  });

  it('surfaces a 429 with its retry-after header to the SDK', async () => {
    const { model, client } = await start(
      sequenceScript([
        { fault: 'status', status: 429, retryAfterSeconds: 7 },
        { content: 'recovered' },
      ]),
    );
    const request = { model: 'scripted-1', messages: [{ role: 'user' as const, content: 'hi' }] };

    const error: unknown = await client.chat.completions.create(request).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(APIError);
    const apiError = error as APIError;
    expect(apiError.status).toBe(429);
    expect(apiError.headers?.get('retry-after')).toBe('7');
    expect(apiError.code).toBe('rate_limit_exceeded');

    // The sequence moves on: the next call succeeds, and the last reply repeats.
    expect((await client.chat.completions.create(request)).choices[0]!.message.content).toBe(
      'recovered',
    );
    expect((await client.chat.completions.create(request)).choices[0]!.message.content).toBe(
      'recovered',
    );
    expect(model.requests).toHaveLength(3);
  });

  it('drops the connection, sends malformed JSON, and hangs until closed', async () => {
    const { model, client } = await start(
      sequenceScript([{ fault: 'drop' }, { fault: 'malformed' }, { fault: 'hang' }]),
    );
    const request = { model: 'scripted-1', messages: [{ role: 'user' as const, content: 'hi' }] };

    await expect(client.chat.completions.create(request)).rejects.toBeInstanceOf(
      APIConnectionError,
    );
    await expect(client.chat.completions.create(request)).rejects.toThrow();

    const hanging = client.chat.completions.create(request).then(
      () => 'answered',
      () => 'failed',
    );
    // Poll until the hanging request has reached the script, then close: the
    // client sees the connection end instead of an answer.
    while (model.requests.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    await model.close();
    expect(await hanging).toBe('failed');
  });

  it('refuses requests the script cannot answer, without calling it', async () => {
    const script = jest.fn<ReturnType<ModelScript>, Parameters<ModelScript>>(() => ({
      content: 'x',
    }));
    const { model, client } = await start(script);

    await expect(
      client.chat.completions.create({
        model: 'scripted-1',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      }),
    ).rejects.toMatchObject({ status: 400 });
    const notFound = await fetch(`${model.baseUrl}/embeddings`, { method: 'POST', body: '{}' });

    expect(notFound.status).toBe(404);
    expect((await fetch(model.baseUrl.replace(/\/v1$/, '/health'))).status).toBe(200);
    expect(script).not.toHaveBeenCalled();
    expect(model.rejected.map((r) => r.status)).toEqual([400, 404]);
  });

  it('keeps only the last `keepRequests` requests; the script still sees every index', async () => {
    const seen: number[] = [];
    const script: ModelScript = (_body, index) => {
      seen.push(index);
      return { content: `reply ${index}` };
    };
    const ask = (client: OpenAI, text: string) =>
      client.chat.completions.create({
        model: 'scripted-1',
        messages: [{ role: 'user', content: text }],
      });
    const client = (m: ScriptedModel) =>
      new OpenAI({ baseURL: m.baseUrl, apiKey: 'test', maxRetries: 0 });

    model = await startScriptedModel(script, { keepRequests: 2 });
    const replies = [];
    for (const text of ['a', 'b', 'c', 'd', 'e']) replies.push(await ask(client(model), text));
    await fetch(`${model.baseUrl}/embeddings`, { method: 'POST', body: '{}' });
    await fetch(`${model.baseUrl}/files`, { method: 'POST', body: '{}' });
    await fetch(`${model.baseUrl}/models`, { method: 'POST', body: '{}' });

    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(replies.map((r) => r.id)).toEqual([1, 2, 3, 4, 5].map((n) => `chatcmpl-scripted-${n}`));
    expect(model.requests.map((r) => [r.index, r.body.messages[0]?.content])).toEqual([
      [3, 'd'],
      [4, 'e'],
    ]);
    expect(model.rejected.map((r) => r.path)).toEqual(['/v1/files', '/v1/models']);
    await model.close();

    // None kept (a long-running server's setting): answers as before, holds nothing.
    model = await startScriptedModel(script, { keepRequests: 0 });
    expect((await ask(client(model), 'f')).choices[0]?.message.content).toBe('reply 0');
    await fetch(`${model.baseUrl}/embeddings`, { method: 'POST', body: '{}' });
    expect(model.requests).toEqual([]);
    expect(model.rejected).toEqual([]);
  });
});

/** The same server, the same scripts, over the Anthropic Messages protocol. */
describe('scripted model (driven by the official Anthropic SDK)', () => {
  let model: ScriptedModel | undefined;
  afterEach(async () => {
    await model?.close();
    model = undefined;
  });

  const start = async (script: ModelScript) => {
    model = await startScriptedModel(script);
    return {
      model,
      client: new Anthropic({
        baseURL: model.anthropicBaseUrl,
        apiKey: 'test',
        maxRetries: 0,
        timeout: 10_000,
        openTelemetry: false,
      }),
    };
  };

  const tools: Anthropic.Messages.Tool[] = [
    {
      name: 'calculator',
      description: 'Evaluates an arithmetic expression',
      input_schema: {
        type: 'object',
        properties: { expression: { type: 'string' } },
        required: ['expression'],
      },
    },
  ];

  it('answers with tool_use, then with text after the tool_result (one script, both protocols)', async () => {
    const { model, client } = await start(calculatorScript('6*7', 'The answer is '));
    const messages: Anthropic.Messages.MessageParam[] = [{ role: 'user', content: 'What is 6*7?' }];

    const first = await client.messages.create({
      model: 'scripted-1',
      max_tokens: 256,
      system: 'You are a calculator.',
      messages,
      tools,
    });

    expect(first).toMatchObject({
      id: 'msg_scripted_1',
      type: 'message',
      role: 'assistant',
      model: 'scripted-1',
      stop_reason: 'tool_use',
      stop_sequence: null,
    });
    // The note first (as a text block), then the tool_use.
    const note = toolCallsReply([]).content!;
    const [text, use] = first.content;
    expect(text).toEqual({ type: 'text', text: note });
    if (use?.type !== 'tool_use') throw new Error('expected a tool_use block');
    expect(use).toMatchObject({ id: 'toolu_1', name: 'calculator', input: { expression: '6*7' } });
    const translated = model.requests[0]!.body;
    expect(first.usage).toMatchObject({
      input_tokens: estimateTokens(promptText(translated.messages)),
      output_tokens: estimateTokens(`${note}calculator${JSON.stringify(use.input)}`),
    });

    messages.push(
      { role: 'assistant', content: first.content as Anthropic.Messages.ContentBlockParam[] },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: use.id, content: '{"value":42}' }],
      },
    );
    const second = await client.messages.create({
      model: 'scripted-1',
      max_tokens: 256,
      system: [{ type: 'text', text: 'You are a calculator.' }],
      messages,
      tools,
    });
    expect(second.stop_reason).toBe('end_turn');
    expect(second.content).toEqual([
      { type: 'text', text: finalReply('The answer is 42').content },
    ]);

    // Recorded: protocol, the request as sent, and the translation the script saw.
    expect(model.requests.map((r) => [r.protocol, r.path])).toEqual([
      ['anthropic', '/v1/messages'],
      ['anthropic', '/v1/messages'],
    ]);
    expect(model.requests[1]!.anthropicBody!.messages).toHaveLength(3);
    expect(model.requests[1]!.body).toMatchObject({
      model: 'scripted-1',
      max_tokens: 256,
      tools: [{ type: 'function', function: { name: 'calculator' } }],
      messages: [
        { role: 'system', content: 'You are a calculator.' },
        { role: 'user', content: 'What is 6*7?' },
        {
          role: 'assistant',
          content: note,
          tool_calls: [
            {
              id: 'toolu_1',
              type: 'function',
              function: { name: 'calculator', arguments: '{"expression":"6*7"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '{"value":42}' },
      ],
    });
  });

  it('status faults have Anthropic error bodies; retry-after and request-id reach the SDK', async () => {
    const { model, client } = await start(
      sequenceScript([
        { fault: 'status', status: 429, retryAfterSeconds: 7 },
        { fault: 'status', status: 529 },
        { fault: 'status', status: 402 },
        { content: 'recovered', finishReason: 'length' },
      ]),
    );
    const request = {
      model: 'scripted-1',
      max_tokens: 16,
      messages: [{ role: 'user' as const, content: 'hi' }],
    };

    const limited = await client.messages.create(request).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect(limited).toMatchObject({ status: 429, type: 'rate_limit_error' });
    expect(limited).toMatchObject({ requestID: 'req_scripted_1' });
    expect((limited as { headers: Headers }).headers.get('retry-after')).toBe('7');

    const overloaded = await client.messages.create(request).catch((e: unknown) => e);
    expect(overloaded).toBeInstanceOf(Anthropic.OverloadedError);
    expect(overloaded).toMatchObject({ status: 529, type: 'overloaded_error' });

    const billing = await client.messages.create(request).catch((e: unknown) => e);
    expect(billing).toMatchObject({ status: 402, type: 'billing_error' });

    const recovered = await client.messages.create(request);
    expect(recovered.stop_reason).toBe('max_tokens');
    expect(recovered.content).toEqual([{ type: 'text', text: 'recovered' }]);
    expect(model.requests).toHaveLength(4);
  });

  it('drops the connection and sends malformed JSON on this route too', async () => {
    const { client } = await start(sequenceScript([{ fault: 'drop' }, { fault: 'malformed' }]));
    const request = {
      model: 'scripted-1',
      max_tokens: 16,
      messages: [{ role: 'user' as const, content: 'hi' }],
    };
    await expect(client.messages.create(request)).rejects.toBeInstanceOf(
      Anthropic.APIConnectionError,
    );
    await expect(client.messages.create(request)).rejects.toThrow();
  });

  it('refuses what the real API refuses, with invalid_request_error, without calling the script', async () => {
    const script = jest.fn<ReturnType<ModelScript>, Parameters<ModelScript>>(() => ({
      content: 'x',
    }));
    const { model, client } = await start(script);
    const refused = (params: unknown) =>
      client.messages
        .create(params as Anthropic.Messages.MessageCreateParamsNonStreaming)
        .catch((e: unknown) => e);

    // A tool_result without the tool_use right before it.
    const orphan = await refused({
      model: 'scripted-1',
      max_tokens: 16,
      messages: [
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: '1' }] },
      ],
    });
    expect(orphan).toMatchObject({ status: 400, type: 'invalid_request_error' });
    // A tool_use whose result is missing from the next turn.
    const unanswered = await refused({
      model: 'scripted-1',
      max_tokens: 16,
      messages: [
        { role: 'user', content: 'q' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'toolu_1', name: 'calculator', input: {} }],
        },
        { role: 'user', content: 'no result' },
      ],
    });
    expect(unanswered).toMatchObject({ status: 400 });
    // A tool_use id outside ^[a-zA-Z0-9_-]+$ (in a well-formed pair).
    const badId = await refused({
      model: 'scripted-1',
      max_tokens: 16,
      messages: [
        { role: 'user', content: 'q' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'run:1:call:0', name: 'calculator', input: {} }],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'run:1:call:0', content: '1' }],
        },
      ],
    });
    expect(badId).toMatchObject({ status: 400 });
    expect(
      await refused({ model: 'scripted-1', messages: [{ role: 'user', content: 'q' }] }),
    ).toMatchObject({ status: 400 });
    await expect(
      client.messages.create({
        model: 'scripted-1',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'q' }],
        stream: true,
      }),
    ).rejects.toMatchObject({ status: 400 });

    expect(script).not.toHaveBeenCalled();
    expect(model.requests).toHaveLength(0);
    expect(model.rejected.map((r) => r.status)).toEqual([400, 400, 400, 400, 400]);
    expect(model.rejected[0]!.reason).toMatch(/unexpected `tool_use_id`/);
    expect(model.rejected[1]!.reason).toMatch(/without `tool_result` blocks/);
    expect(model.rejected[2]!.reason).toMatch(/should match pattern/);
  });
});

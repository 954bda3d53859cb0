import OpenAI, { APIConnectionError, APIError } from 'openai';
import { startScriptedModel, type ScriptedModel } from './server';
import { calculatorScript, sequenceScript } from './scripts';
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
    expect(first.usage!.completion_tokens).toBe(
      estimateTokens(`calculator${call.function.arguments}`),
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
    expect(second.choices[0]!.message.content).toBe('The answer is 42');
    expect(second.usage!.completion_tokens).toBe(estimateTokens('The answer is 42'));

    // Recorded: the parsed bodies and headers, in order.
    expect(model.requests.map((r) => r.index)).toEqual([0, 1]);
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
});

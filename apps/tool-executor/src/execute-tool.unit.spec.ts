import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { z } from 'zod';
import { defineTool, SideEffect, ToolError, type ToolDefinition } from '@keel/tools';
import { attemptTool } from './execute-tool';

/** One attempt of a tool: timeout, failure classification, output validation, deliveries. */
describe('attemptTool', () => {
  const resources = {
    http: new Agent(),
    https: new HttpsAgent(),
    db: {
      query: () => Promise.reject(new Error('these tools use no database')),
    },
  };
  const ctx = { idempotencyKey: 'run:1:0', runId: 'run', tenant: 't', attempt: 1, resources };
  const tool = (over: Partial<ToolDefinition>): ToolDefinition =>
    defineTool({
      name: 'probe',
      version: '1',
      description: 'test tool',
      pool: 'default',
      sideEffect: SideEffect.Read,
      timeoutMs: 1000,
      input: z.object({}),
      output: z.object({ n: z.number() }),
      execute: () => Promise.resolve({ n: 1 }),
      ...over,
    });

  afterAll(() => {
    resources.http.destroy();
    resources.https.destroy();
  });

  it('returns a valid output with its duration', async () => {
    const r = await attemptTool(tool({}), {}, ctx, (i) => `d${i}`);
    expect(r).toMatchObject({ ok: true, output: { n: 1 }, deliveries: [] });
  });

  it('an output that breaks the schema is a permanent INVALID_OUTPUT, never passed on', async () => {
    const r = await attemptTool(
      tool({ execute: () => Promise.resolve({ n: 'one' }) }),
      {},
      ctx,
      (i) => `d${i}`,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'INVALID_OUTPUT', errorClass: 'permanent' });
    expect(r.error.message).toMatch(/^n: /);
  });

  it('a tool that ignores its signal still ends at the timeout, as a transient TOOL_TIMEOUT', async () => {
    const r = await attemptTool(
      tool({ timeoutMs: 50, execute: () => new Promise(() => undefined) }),
      {},
      ctx,
      (i) => `d${i}`,
    );
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'TOOL_TIMEOUT', errorClass: 'transient' },
    });
  });

  it('a tool that listens to its signal sees it abort at the timeout, with the reason', async () => {
    let seen: unknown;
    const r = await attemptTool(
      tool({
        timeoutMs: 50,
        execute: (_input, { signal }) =>
          new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              seen = signal.reason;
              reject(signal.reason as Error);
            }),
          ),
      }),
      {},
      ctx,
      (i) => `d${i}`,
    );
    expect(r).toMatchObject({ ok: false, error: { code: 'TOOL_TIMEOUT' } });
    expect(seen).toMatchObject({ name: 'TimeoutError' });

    // A signal first asked for after the timeout (by a tool still running) comes already aborted.
    let asked: (s: AbortSignal) => void = () => undefined;
    const late = new Promise<AbortSignal>((resolve) => (asked = resolve));
    const timedOut = await attemptTool(
      tool({
        timeoutMs: 20,
        execute: async (_input, c) => {
          await new Promise((resolve) => setTimeout(resolve, 60));
          asked(c.signal);
          return { n: 1 };
        },
      }),
      {},
      ctx,
      (i) => `d${i}`,
    );
    expect(timedOut).toMatchObject({ ok: false, error: { code: 'TOOL_TIMEOUT' } });
    expect((await late).aborted).toBe(true);
  });

  it('keeps a ToolError’s class and Retry-After; classifies others by the hook, else transient', async () => {
    const limited = await attemptTool(
      tool({
        execute: () =>
          Promise.reject(
            new ToolError('SLOW_DOWN', 'busy', 'rate_limited', { retryAfterMs: 1500 }),
          ),
      }),
      {},
      ctx,
      (i) => `d${i}`,
    );
    expect(limited).toMatchObject({
      ok: false,
      error: { errorClass: 'rate_limited', retryAfterMs: 1500 },
    });
    const hooked = await attemptTool(
      tool({
        execute: () => Promise.reject(new Error('401 from the SDK')),
        classifyError: () => new ToolError('AUTH', 'bad key', 'auth'),
      }),
      {},
      ctx,
      (i) => `d${i}`,
    );
    expect(hooked).toMatchObject({ ok: false, error: { code: 'AUTH', errorClass: 'auth' } });
    const other = await attemptTool(
      tool({ execute: () => Promise.reject(new Error('socket hang up')) }),
      {},
      ctx,
      (i) => `d${i}`,
    );
    expect(other).toMatchObject({
      ok: false,
      error: { code: 'TOOL_ERROR', errorClass: 'transient' },
    });
  });

  it('an external tool only collects its deliveries, with the ids the caller assigns', async () => {
    const r = await attemptTool(
      tool({
        sideEffect: SideEffect.External,
        output: z.object({ id: z.string() }),
        execute: (_in, c) =>
          Promise.resolve({
            id: c.deliver({ channel: 'webhook', target: 'https://x.test/h', payload: { a: 1 } }),
          }),
      }),
      {},
      ctx,
      (i) => `delivery-${i}`,
    );
    expect(r).toMatchObject({
      ok: true,
      output: { id: 'delivery-0' },
      deliveries: [{ channel: 'webhook', target: 'https://x.test/h', payload: { a: 1 } }],
    });
  });
});

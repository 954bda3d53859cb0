import type { KeelNames } from '@keel/contracts';
import type { NatsConnection } from 'nats';
import { z } from 'zod';
import { RequestError, RequestErrorCode, TerminalError } from './errors';
import { captureLogger, connectTest, encode, testNames } from './int-test-support';
import { requestJson, type ServerHandle, serveJson } from './request-reply';

const Req = z.object({ id: z.string(), tokens: z.number().int().min(0) });
const Reply = z.discriminatedUnion('status', [
  z.object({ status: z.literal('granted'), tokens: z.number() }),
  z.object({ status: z.literal('error'), code: z.string(), message: z.string() }),
]);

describe('request/reply', () => {
  let nc: NatsConnection;
  let names: KeelNames;
  let server: ServerHandle;
  const handled: string[] = [];

  beforeAll(async () => {
    nc = await connectTest();
    names = testNames();
    server = serveJson(nc, names.subjects.budgetReserve.pattern, {
      queue: 'budget-guard',
      schema: Req,
      handler: (req) => {
        handled.push(req.id);
        if (req.id === 'boom') throw new TerminalError('LIMIT_UNKNOWN', 'no such run');
        if (req.id === 'crash') throw new Error('unexpected');
        return { status: 'granted' as const, tokens: req.tokens };
      },
      logger: captureLogger(),
    });
    await nc.flush();
  });

  afterAll(async () => {
    await server.stop();
    await nc.close();
  });

  const ask = (payload: unknown) =>
    requestJson(nc, names.subjects.budgetReserve.build(), payload, {
      timeoutMs: 2000,
      schema: Reply,
    });

  it('answers a good request', async () => {
    await expect(ask({ id: 'a', tokens: 10 })).resolves.toEqual({ status: 'granted', tokens: 10 });
  });

  it('answers BAD_REQUEST to a malformed request and keeps serving', async () => {
    const bad = await ask({ id: 'b', tokens: -1 });
    expect(bad).toMatchObject({ status: 'error', code: 'BAD_REQUEST' });
    expect((bad as { message: string }).message).toMatch(/tokens/);

    const notJson = await nc.request(names.subjects.budgetReserve.build(), encode('nope{'), {
      timeout: 2000,
    });
    expect(JSON.parse(new TextDecoder().decode(notJson.data))).toMatchObject({
      status: 'error',
      code: 'BAD_REQUEST',
    });

    await expect(ask({ id: 'c', tokens: 1 })).resolves.toEqual({ status: 'granted', tokens: 1 });
    expect(handled).not.toContain('b');
  });

  it('turns handler errors into error replies with their code', async () => {
    await expect(ask({ id: 'boom', tokens: 1 })).resolves.toEqual({
      status: 'error',
      code: 'LIMIT_UNKNOWN',
      message: 'no such run',
    });
    await expect(ask({ id: 'crash', tokens: 1 })).resolves.toMatchObject({
      status: 'error',
      code: 'INTERNAL',
    });
    await expect(ask({ id: 'd', tokens: 2 })).resolves.toEqual({ status: 'granted', tokens: 2 });
  });

  it('raises REMOTE_ERROR when the reply schema does not model errors', async () => {
    const err = await requestJson(
      nc,
      names.subjects.budgetReserve.build(),
      { id: 'x', tokens: -5 },
      {
        timeoutMs: 2000,
        schema: z.object({ status: z.literal('granted') }),
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).code).toBe(RequestErrorCode.REMOTE_ERROR);
    expect((err as RequestError).remoteCode).toBe('BAD_REQUEST');
  });

  it('raises NO_RESPONDERS when nobody serves the subject', async () => {
    const err = await requestJson(
      nc,
      `${names.prefix}.nobody`,
      {},
      { timeoutMs: 1000, schema: Reply },
    ).catch((e: unknown) => e);
    expect((err as RequestError).code).toBe(RequestErrorCode.NO_RESPONDERS);
  });

  it('drains on stop: no more answers afterwards', async () => {
    const subject = `${names.prefix}.drain-test`;
    const s = serveJson(nc, subject, {
      queue: 'q',
      schema: z.object({}),
      handler: () => ({ ok: true }),
      logger: captureLogger(),
    });
    await nc.flush();
    await expect(
      requestJson(nc, subject, {}, { timeoutMs: 2000, schema: z.object({ ok: z.boolean() }) }),
    ).resolves.toEqual({ ok: true });
    await s.stop();
    const err = await requestJson(nc, subject, {}, { timeoutMs: 1000, schema: Reply }).catch(
      (e: unknown) => e,
    );
    expect((err as RequestError).code).toBe(RequestErrorCode.NO_RESPONDERS);
  });
});

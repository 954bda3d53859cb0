import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { startActiveSpanSampled } from '@keel/telemetry';
import { type Msg, type NatsConnection, NatsError } from 'nats';
import type { z } from 'zod';
import { describeError, RequestError, RequestErrorCode } from './errors';
import { headersToRecord } from './headers';
import type { MessagingLogger } from './logger';
import { summariseIssues } from './parse-json';
import { extractTraceContext, injectTraceHeaders } from './trace-context';
import { utf8 } from './utf8';

/**
 * Request/reply over core NATS (not JetStream): nothing is stored, a request
 * reaches one member of the server's queue group or nobody. At-most-once per
 * attempt; a timed-out request may still have been processed, so requests
 * must be idempotent (keyed by an id in the payload) before they are retried.
 */

/** What a server replies when it cannot produce a normal answer. */
export interface ErrorReply {
  status: 'error';
  code: string;
  message: string;
}

export const BAD_REQUEST = 'BAD_REQUEST';
const INTERNAL = 'INTERNAL';

export interface RequestJsonOptions<T> {
  timeoutMs: number;
  /** Schema of the reply; include the `{status:'error'}` variant to receive error replies as values. */
  schema: z.ZodType<T>;
  headers?: Record<string, string>;
}

/**
 * Sends a JSON request with the active trace context in its headers and
 * parses the reply. Throws `RequestError`: `NO_RESPONDERS`, `REQUEST_TIMEOUT`,
 * `INVALID_REPLY`, or `REMOTE_ERROR` (an error reply the schema does not model).
 */
export async function requestJson<T>(
  nc: NatsConnection,
  subject: string,
  payload: unknown,
  opts: RequestJsonOptions<T>,
): Promise<T> {
  const h = injectTraceHeaders();
  if (opts.headers) for (const [k, v] of Object.entries(opts.headers)) h.set(k, v);
  let reply: Msg;
  try {
    reply = await nc.request(subject, utf8(JSON.stringify(payload)), {
      timeout: opts.timeoutMs,
      headers: h,
    });
  } catch (err) {
    if (err instanceof NatsError && err.code === '503') {
      throw new RequestError(RequestErrorCode.NO_RESPONDERS, `no responders on '${subject}'`, {
        cause: err,
      });
    }
    if (err instanceof NatsError && err.code === 'TIMEOUT') {
      throw new RequestError(
        RequestErrorCode.TIMEOUT,
        `no reply on '${subject}' within ${opts.timeoutMs} ms`,
        {
          cause: err,
        },
      );
    }
    throw new RequestError(
      RequestErrorCode.REQUEST_FAILED,
      `request on '${subject}' failed: ${describeError(err).message}`,
      {
        cause: err,
      },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(reply.data));
  } catch (err) {
    throw new RequestError(RequestErrorCode.INVALID_REPLY, `reply on '${subject}' is not JSON`, {
      cause: err,
    });
  }
  const parsed = opts.schema.safeParse(value);
  if (parsed.success) return parsed.data;
  if (isErrorReply(value)) {
    throw new RequestError(
      RequestErrorCode.REMOTE_ERROR,
      `'${subject}' replied ${value.code}: ${value.message}`,
      {
        remoteCode: value.code,
      },
    );
  }
  throw new RequestError(
    RequestErrorCode.INVALID_REPLY,
    `reply on '${subject}' does not match schema: ${summariseIssues(parsed.error.issues)}`,
    { cause: parsed.error },
  );
}

export interface ServeJsonOptions<Req, Res> {
  /** Queue group: each request goes to one member. */
  queue: string;
  /** Schema of the request; a request that fails it gets `BAD_REQUEST`. */
  schema: z.ZodType<Req>;
  handler: (
    req: Req,
    meta: { subject: string; headers: Record<string, string> },
  ) => Promise<Res> | Res;
  logger: MessagingLogger;
}

export interface ServerHandle {
  /**
   * Drains the subscription: stops taking requests, lets the ones already
   * received finish and reply, then resolves. Idempotent.
   */
  stop(): Promise<void>;
}

/**
 * Answers JSON requests on `subject` in a queue group. Each request runs in a
 * SERVER span whose parent is the requester's trace context. The handler's
 * result is the reply. A request that is not JSON or fails the schema gets
 * `{status:'error', code:'BAD_REQUEST', message}`; a handler error gets
 * `{status:'error', code, message}` (`code` from the error if it has a string
 * one, else `INTERNAL`). Nothing a request does can end the subscription.
 */
export function serveJson<Req, Res>(
  nc: NatsConnection,
  subject: string,
  opts: ServeJsonOptions<Req, Res>,
): ServerHandle {
  const { logger, schema, handler } = opts;
  const inFlight = new Set<Promise<void>>();
  const spanName = `serve ${subject}`;

  const handle = async (msg: Msg): Promise<void> => {
    const parent = extractTraceContext(msg.headers);
    const tracer = trace.getTracer('@keel/messaging');
    await startActiveSpanSampled(
      tracer,
      spanName,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': msg.subject,
          'rpc.system': 'nats',
        },
      },
      parent,
      async (span) => {
        const log = { subject: msg.subject };
        let reply: unknown;
        try {
          const req = decodeRequest(msg, schema);
          if (!req.ok) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: BAD_REQUEST });
            logger.warn({ ...log, reason: req.message }, 'bad request');
            reply = errorReply(BAD_REQUEST, req.message);
          } else {
            reply = await handler(req.value, {
              subject: msg.subject,
              headers: headersToRecord(msg.headers),
            });
          }
        } catch (err) {
          const e = describeError(err);
          span.recordException(err instanceof Error ? err : String(err));
          span.setStatus({ code: SpanStatusCode.ERROR, message: e.code ?? INTERNAL });
          logger.error({ ...log, err: e }, 'request handler failed');
          reply = errorReply(e.code ?? INTERNAL, e.message);
        } finally {
          span.end();
        }
        respond(msg, reply, log);
      },
    );
  };

  const respond = (msg: Msg, reply: unknown, log: Record<string, unknown>) => {
    if (!msg.reply) {
      logger.warn(log, 'request has no reply subject; nothing sent');
      return;
    }
    try {
      msg.respond(utf8(JSON.stringify(reply ?? null)));
    } catch (err) {
      logger.error({ ...log, err: describeError(err) }, 'could not send reply');
    }
  };

  const sub = nc.subscribe(subject, {
    queue: opts.queue,
    callback: (err, msg) => {
      if (err) {
        logger.error({ subject, err: describeError(err) }, 'subscription error');
        return;
      }
      // Requests are handled concurrently (core NATS has no flow control; bound
      // the work in the handler if it matters).
      const p = handle(msg).catch((e: unknown) =>
        logger.error({ subject, err: describeError(e) }, 'request handling failed unexpectedly'),
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
  });

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        try {
          if (!sub.isClosed()) await sub.drain();
        } catch (err) {
          logger.warn({ subject, err: describeError(err) }, 'subscription drain failed');
        }
        await Promise.allSettled([...inFlight]);
      })();
      return stopping;
    },
  };
}

function decodeRequest<Req>(
  msg: Msg,
  schema: z.ZodType<Req>,
): { ok: true; value: Req } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(msg.data));
  } catch {
    return { ok: false, message: `request is not valid JSON (${msg.data.byteLength} bytes)` };
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    return {
      ok: false,
      message: `request does not match schema: ${summariseIssues(parsed.error.issues)}`,
    };
  return { ok: true, value: parsed.data };
}

function errorReply(code: string, message: string): ErrorReply {
  return { status: 'error', code, message };
}

function isErrorReply(v: unknown): v is ErrorReply {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return r.status === 'error' && typeof r.code === 'string' && typeof r.message === 'string';
}

import type { KeelNames } from '@keel/contracts';
import { startActiveSpanSampled } from '@keel/telemetry';
import {
  type Attributes,
  isSpanContextValid,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from 'nats';
import { fullJitterBackoffMs, sleep } from './backoff';
import { Bulkhead } from './bulkhead';
import { buildDeadLetter, DeadLetterCode, publishDeadLetter } from './dead-lettering';
import { describeError, TerminalError } from './errors';
import { faultPoint } from './fault-hooks';
import { headersToRecord, MSG_ID_HEADER } from './headers';
import type { Disposition, InboundMessage, MessageHandler } from './inbound-message';
import type { MessagingLogger } from './logger';
import { connectionOf, serverSupportsTermReason, Settlement } from './settlement';
import { extractTraceContext } from './trace-context';

export interface StartConsumerOptions {
  js: JetStreamClient;
  /** Stream the durable consumer belongs to. */
  stream: string;
  /** An existing durable pull consumer (declare it with `ensureConsumer`). */
  durable: string;
  /** Most handlers running at once in this process (the bulkhead). */
  concurrency: number;
  handler: MessageHandler;
  names: KeelNames;
  logger: MessagingLogger;
  /**
   * The consumer's `max_deliver`. On this delivery a failing message is
   * dead-lettered instead of nak'ed. If the consumer on the server allows
   * fewer deliveries, the smaller number is used (and a warning logged).
   */
  maxDeliver: number;
  /** Interval of `working()` heartbeats while a handler runs. Default: the consumer's ack wait / 3. */
  heartbeatMs?: number;
  /** Larger payloads are dead-lettered (`TOO_LARGE`) without calling the handler. */
  maxPayloadBytes?: number;
  /** How long one pull request waits on the server for messages. Default 10 s (minimum 1 s). */
  pullExpiresMs?: number;
  /** How long `stop()` waits for in-flight handlers. Default 10 s. */
  drainTimeoutMs?: number;
  /** Send the reason with `+TERM` (needs nats-server ≥ 2.11). Default: detected from the server version. */
  termWithReason?: boolean;
  /**
   * Declares the stream and this durable again. Called when the consumer (or
   * its stream) is not found — e.g. a NATS server that lost its store — so
   * the loop recovers instead of retrying a missing consumer forever.
   */
  redeclare?: () => Promise<unknown>;
}

export interface ConsumerHandle {
  /**
   * Stops pulling, hands back (nak, no delay) any message received but not
   * yet started, waits up to `drainTimeoutMs` for running handlers to settle
   * their messages, flushes the connection (so the server has every ack sent
   * so far), then resolves. Handlers still running after that keep
   * running, but the caller may close the connection: their messages are
   * redelivered after the ack wait (at-least-once). Idempotent; never rejects.
   */
  stop(): Promise<void>;
}

const TRACER_NAME = '@keel/messaging';
const RETRY_BASE_MS = 200;
const RETRY_CAP_MS = 30_000;

/**
 * Runs a durable pull consumer until `stop()`.
 *
 * Delivery contract: at-least-once, unordered across concurrent handlers (a
 * handler must be idempotent, keyed on something in the message). Every
 * delivery ends in exactly one of ack / nak(delay) / term; a term is always
 * preceded by a dead letter on `<prefix>.dlq.<durable>` (if that publish fails
 * the message is nak'ed instead, so nothing is dropped).
 *
 * Flow control: the loop pulls (`fetch`) only as many messages as there are
 * free bulkhead slots, so no message waits in a client buffer with its ack
 * timer running. Pull failures (consumer missing, connection lost, missed
 * heartbeats) are logged and retried with backoff; the loop never throws and
 * never stops on its own.
 */
export function startConsumer(opts: StartConsumerOptions): ConsumerHandle {
  if (!Number.isInteger(opts.maxDeliver) || opts.maxDeliver < 1) {
    throw new RangeError(`maxDeliver must be a positive integer, got ${opts.maxDeliver}`);
  }
  const { js, stream, durable, handler, names, logger } = opts;
  const bulkhead = new Bulkhead(opts.concurrency);
  const pullExpiresMs = Math.max(1000, opts.pullExpiresMs ?? 10_000);
  const drainTimeoutMs = opts.drainTimeoutMs ?? 10_000;
  const termWithReason = opts.termWithReason ?? serverSupportsTermReason(js);
  const abort = new AbortController();
  const base = { stream, durable };
  const spanName = `process ${stream}/${durable}`;

  let maxDeliver = opts.maxDeliver;
  let heartbeatMs = opts.heartbeatMs ?? 10_000;
  let current: ConsumerMessages | undefined;

  const configure = (consumer: Consumer) => {
    return consumer.info(true).then((info) => {
      const serverMax = info.config.max_deliver ?? -1;
      if (serverMax > 0 && serverMax < opts.maxDeliver) {
        logger.warn(
          { ...base, maxDeliver: opts.maxDeliver, serverMaxDeliver: serverMax },
          'consumer allows fewer deliveries than configured; using the server value',
        );
        maxDeliver = serverMax;
      } else {
        maxDeliver = opts.maxDeliver;
      }
      const ackWaitMs = Math.round((info.config.ack_wait ?? 30_000_000_000) / 1_000_000);
      heartbeatMs = opts.heartbeatMs ?? Math.max(100, Math.floor(ackWaitMs / 3));
      logger.info(
        { ...base, concurrency: opts.concurrency, maxDeliver, ackWaitMs, heartbeatMs },
        'consumer started',
      );
    });
  };

  const runLoop = async (): Promise<void> => {
    let consumer: Consumer | undefined;
    let failures = 0;
    while (!abort.signal.aborted) {
      try {
        if (!consumer) {
          const c = await js.consumers.get(stream, durable).catch(async (err: unknown) => {
            if (!opts.redeclare || !/not found/i.test(describeError(err).message)) throw err;
            logger.warn(
              { ...base, err: describeError(err) },
              'consumer missing; declaring it again',
            );
            await opts.redeclare();
            return js.consumers.get(stream, durable);
          });
          await configure(c);
          consumer = c;
        }
        await bulkhead.whenFree();
        if (abort.signal.aborted) break;
        const startedAt = Date.now();
        let received = 0;
        const batch = await consumer.fetch({ max_messages: bulkhead.free, expires: pullExpiresMs });
        current = batch;
        try {
          for await (const m of batch) {
            received += 1;
            // A fetch re-pulled after a reconnect can deliver more than asked: wait for a slot.
            if (bulkhead.free === 0 && !abort.signal.aborted) await bulkhead.whenFree();
            if (abort.signal.aborted) {
              handBack(m);
              continue;
            }
            dispatch(m);
          }
        } finally {
          current = undefined;
        }
        failures = 0;
        // A pull that ended at once with nothing is not normal; don't spin on it.
        if (received === 0 && Date.now() - startedAt < 100) await sleep(250, abort.signal);
      } catch (err) {
        if (abort.signal.aborted) break;
        failures += 1;
        consumer = undefined; // re-resolve: the consumer may have been recreated
        const retryInMs = Math.max(
          250,
          fullJitterBackoffMs(failures, { baseMs: 1000, capMs: 30_000 }),
        );
        logger.error(
          { ...base, err: describeError(err), attempt: failures, retryInMs },
          'consumer pull failed; retrying',
        );
        await sleep(retryInMs, abort.signal);
      }
    }
  };

  const handBack = (m: JsMsg) => {
    try {
      m.nak();
    } catch {
      // connection gone: redelivered after ack wait anyway
    }
  };

  const dispatch = (m: JsMsg) => {
    bulkhead.acquire();
    processMessage(m)
      .catch((err: unknown) =>
        logger.error(
          { ...base, seq: m.seq, err: describeError(err) },
          'message processing failed unexpectedly',
        ),
      )
      .finally(() => bulkhead.release());
  };

  const processMessage = (m: JsMsg): Promise<void> => {
    const headers = headersToRecord(m.headers);
    const msgId = headers[MSG_ID_HEADER];
    const deliveries = m.info.deliveryCount;
    const attributes: Attributes = {
      'messaging.system': 'nats',
      'messaging.operation.type': 'process',
      'messaging.destination.name': m.subject,
      'messaging.consumer.group.name': durable,
      'messaging.nats.stream': stream,
      'messaging.nats.stream_sequence': m.seq,
      'messaging.nats.delivery_count': deliveries,
      ...(msgId ? { 'messaging.message.id': msgId } : {}),
    };
    const parent = extractTraceContext(m.headers);
    const tracer = trace.getTracer(TRACER_NAME);
    return startActiveSpanSampled(
      tracer,
      spanName,
      { kind: SpanKind.CONSUMER, attributes },
      parent,
      async (span) => {
        const settlement = new Settlement(m, termWithReason);
        settlement.startHeartbeat(heartbeatMs);
        const log = { ...base, subject: m.subject, seq: m.seq, deliveries };
        try {
          const disposition = await decide(m, headers, msgId, settlement, span, log);
          await settle(m, headers, settlement, disposition, span, log);
        } catch (err) {
          // Only a bug in this file gets here; keep the message.
          span.recordException(toException(err));
          span.setStatus({ code: SpanStatusCode.ERROR, message: 'consumer error' });
          logger.error({ ...log, err: describeError(err) }, 'consumer error; message nak-ed');
          if (!settlement.settled) trySettle(() => settlement.nak(retryDelay(deliveries)), log);
        } finally {
          settlement.stopHeartbeat();
          span.end();
        }
      },
    );
  };

  const decide = async (
    m: JsMsg,
    headers: Record<string, string>,
    msgId: string | undefined,
    settlement: Settlement,
    span: Span,
    log: Record<string, unknown>,
  ): Promise<Disposition> => {
    const deliveries = m.info.deliveryCount;
    if (opts.maxPayloadBytes !== undefined && m.data.byteLength > opts.maxPayloadBytes) {
      return {
        kind: 'term',
        code: DeadLetterCode.TOO_LARGE,
        reason: `payload is ${m.data.byteLength} bytes; the limit is ${opts.maxPayloadBytes}`,
      };
    }
    let text: string | undefined;
    const inbound: InboundMessage = {
      subject: m.subject,
      data: m.data,
      headers,
      streamSequence: m.seq,
      deliveries,
      ...(msgId !== undefined ? { msgId } : {}),
      text: () => (text ??= new TextDecoder().decode(m.data)),
      working: () => settlement.working(),
    };
    try {
      const result = await handler(inbound);
      return checkDisposition(result);
    } catch (err) {
      span.recordException(toException(err));
      if (err instanceof TerminalError || isPoison(err)) {
        logger.warn({ ...log, err: describeError(err) }, 'handler rejected message');
        return { kind: 'term', code: err.code, reason: err.message };
      }
      if (deliveries >= maxDeliver) {
        logger.error(
          { ...log, err: describeError(err) },
          'handler failed on the last allowed delivery',
        );
        const e = describeError(err);
        return {
          kind: 'term',
          code: DeadLetterCode.HANDLER_FAILED,
          reason: `${e.name}: ${e.message}`,
        };
      }
      const retryAfterMs = (err as { retryAfterMs?: unknown }).retryAfterMs;
      const delayMs =
        typeof retryAfterMs === 'number' && retryAfterMs >= 0
          ? retryAfterMs
          : retryDelay(deliveries);
      logger.warn(
        { ...log, err: describeError(err), retryInMs: delayMs },
        'handler failed; will retry',
      );
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'handler failed; retrying' });
      return { kind: 'nak', delayMs };
    }
  };

  const settle = async (
    m: JsMsg,
    headers: Record<string, string>,
    settlement: Settlement,
    d: Disposition,
    span: Span,
    log: Record<string, unknown>,
  ): Promise<void> => {
    const deliveries = m.info.deliveryCount;
    switch (d.kind) {
      case 'ack':
        faultPoint(`consumer:${durable}:before-ack`, { seq: m.seq }); // test-only, off by default
        trySettle(() => settlement.ack(), log);
        return;
      case 'nak':
        if (deliveries >= maxDeliver) {
          return settle(
            m,
            headers,
            settlement,
            {
              kind: 'term',
              code: DeadLetterCode.RETRIES_EXHAUSTED,
              reason: `handler asked for a retry on the last allowed delivery (${deliveries} of ${maxDeliver})`,
            },
            span,
            log,
          );
        }
        trySettle(() => settlement.nak(d.delayMs), log);
        return;
      case 'term': {
        span.setStatus({ code: SpanStatusCode.ERROR, message: `dead-lettered: ${d.code}` });
        span.setAttribute('keel.dead_letter.code', d.code);
        const sc = span.spanContext();
        const dl = buildDeadLetter(
          {
            consumer: durable,
            stream,
            subject: m.subject,
            streamSequence: m.seq,
            deliveries,
            data: m.data,
            headers,
          },
          d.code,
          d.reason,
          isSpanContextValid(sc) ? sc.traceId : undefined,
        );
        try {
          await publishDeadLetter(js, names, dl);
        } catch (err) {
          const delayMs = retryDelay(deliveries);
          logger.error(
            { ...log, code: d.code, err: describeError(err), retryInMs: delayMs },
            'dead-letter publish failed; message nak-ed instead of terminated',
          );
          trySettle(() => settlement.nak(delayMs), log);
          return;
        }
        logger.warn({ ...log, code: d.code, reason: dl.reason }, 'message dead-lettered');
        trySettle(() => settlement.term(`${d.code}: ${d.reason}`), log);
        return;
      }
    }
  };

  const trySettle = (fn: () => boolean, log: Record<string, unknown>) => {
    try {
      fn();
    } catch (err) {
      // Typically the connection is closed: the message is redelivered after ack wait.
      logger.warn({ ...log, err: describeError(err) }, 'could not settle message');
    }
  };

  const retryDelay = (deliveries: number) =>
    fullJitterBackoffMs(deliveries, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS });

  const loop = runLoop().catch((err: unknown) => {
    logger.error({ ...base, err: describeError(err) }, 'consumer loop crashed');
  });

  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        abort.abort();
        bulkhead.wakeAll();
        // Ends the open pull request; messages already buffered by it are handed back.
        current?.close().catch(() => undefined);
        await loop;
        logger.info(
          { ...base, inFlight: bulkhead.active },
          'consumer stopping; waiting for in-flight handlers',
        );
        let timer: NodeJS.Timeout | undefined;
        const drained = await Promise.race([
          bulkhead.whenIdle().then(() => true),
          new Promise<boolean>(
            (resolve) => (timer = setTimeout(() => resolve(false), drainTimeoutMs)),
          ),
        ]);
        clearTimeout(timer);
        // Acks are fire-and-forget publishes: a flush (PING/PONG) makes sure the
        // server has received every ack / nak / term sent so far.
        const nc = connectionOf(js);
        if (nc && !nc.isClosed()) await nc.flush().catch(() => undefined);
        if (drained) logger.info(base, 'consumer stopped');
        else
          logger.warn(
            { ...base, inFlight: bulkhead.active },
            'consumer stopped with handlers still running; their messages will be redelivered',
          );
      })();
      return stopping;
    },
  };
}

function checkDisposition(d: unknown): Disposition {
  const kind = (d as { kind?: unknown } | null | undefined)?.kind;
  if (kind === 'ack') return { kind };
  if (kind === 'nak') {
    const delayMs = (d as { delayMs?: unknown }).delayMs;
    return { kind, delayMs: typeof delayMs === 'number' && delayMs >= 0 ? delayMs : 0 };
  }
  if (kind === 'term') {
    const { code, reason } = d as { code?: unknown; reason?: unknown };
    return {
      kind,
      code: typeof code === 'string' ? code : 'TERMINATED',
      reason: typeof reason === 'string' ? reason : '',
    };
  }
  throw new TypeError(`handler returned an invalid disposition (kind: ${String(kind)})`);
}

function toException(err: unknown): Error | string {
  return err instanceof Error ? err : String(err);
}

/**
 * An error that says the message itself is bad, whoever throws it (e.g. the
 * event registry's `EventSchemaError` for an unknown schema version): no
 * redelivery can help, so it is dead-lettered at once like a `TerminalError`.
 */
function isPoison(err: unknown): err is Error & { code: string } {
  return (
    err instanceof Error &&
    (err as { poison?: unknown }).poison === true &&
    typeof (err as { code?: unknown }).code === 'string'
  );
}

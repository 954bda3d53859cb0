import { createInbox, JSONCodec, type Msg, type NatsConnection } from 'nats';
import { rawStatusCode } from '@keel/messaging';

export interface PullNoWaitOptions {
  readonly stream: string;
  readonly consumer: string;
  /** At most this many messages. */
  readonly batch: number;
  /** A request the server never answers fails after this long. */
  readonly timeoutMs: number;
  /** The connection's reply prefix (the service's NATS permissions allow only its own). */
  readonly inboxPrefix?: string | undefined;
}

const codec = JSONCodec<{ batch: number; no_wait: true }>();

/**
 * One no-wait pull request: what `consumer` holds for delivery now, up to
 * `batch` messages, without waiting for more. Resolves with how many were
 * handed to `onMessage` once the server says the request is over: a full
 * batch, `404` (nothing there) or `408` (fewer than asked). Any other status
 * rejects with its code and description (`409`: a batch above the consumer's
 * limit, the consumer deleted mid-request). JetStream does not answer a pull
 * for a consumer that does not exist: that one rejects after `timeoutMs`.
 *
 * Not `js.fetch(…, { no_wait: true })`: nats.js 2.29 stops that iterator at
 * the last message and never unsubscribes its reply subscription unless the
 * batch was filled. A poll that finds fewer messages than it asks for — every
 * poll, normally — left one subscription behind in the client and the server,
 * and a soak grew the outbox's live heap by ~1 MiB a minute. This one always
 * unsubscribes.
 */
export function pullNoWait(
  nc: NatsConnection,
  o: PullNoWaitOptions,
  onMessage: (m: Msg) => void,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let got = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sub.unsubscribe();
      if (err) reject(err);
      else resolve(got);
    };
    const sub = nc.subscribe(createInbox(o.inboxPrefix), {
      callback: (err, m) => {
        if (done) return;
        if (err) return finish(err);
        const code = rawStatusCode(m);
        if (code === 404 || code === 408) return finish();
        if (code !== 0) {
          const what = `${code} ${m.headers?.description ?? ''}`.trim();
          return finish(new Error(`pull from ${o.consumer} on ${o.stream} failed: ${what}`));
        }
        got++;
        try {
          onMessage(m);
        } catch (e) {
          return finish(e as Error);
        }
        if (got >= o.batch) finish();
      },
    });
    const timer = setTimeout(
      () => finish(new Error(`no answer to a pull from ${o.consumer} in ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
    // A connection that closes mid-request leaves nothing to wait for.
    void sub.closed.then(() =>
      finish(new Error(`connection closed during a pull from ${o.consumer}`)),
    );
    nc.publish(
      `$JS.API.CONSUMER.MSG.NEXT.${o.stream}.${o.consumer}`,
      codec.encode({ batch: o.batch, no_wait: true }),
      { reply: sub.getSubject() },
    );
  });
}

import type { JetStreamClient, JsMsg, NatsConnection } from 'nats';

export type SettledAs = 'ack' | 'nak' | 'term';

/**
 * Guards one delivery so it is settled exactly once (ack, nak or term), and
 * sends `working()` heartbeats until then. Calls after the first settlement
 * are ignored and reported by returning false.
 */
export class Settlement {
  private settledAs: SettledAs | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly msg: JsMsg,
    private readonly termWithReason: boolean,
  ) {}

  get settled(): SettledAs | undefined {
    return this.settledAs;
  }

  /** Sends `working()` every `everyMs` until the message is settled. */
  startHeartbeat(everyMs: number): void {
    this.stopHeartbeat();
    this.timer = setInterval(() => this.working(), everyMs);
    this.timer.unref();
  }

  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  working(): void {
    if (this.settledAs) return;
    try {
      this.msg.working();
    } catch {
      // Connection closed: nothing to keep alive; the message will be redelivered.
    }
  }

  ack(): boolean {
    return this.settle('ack', () => this.msg.ack());
  }

  nak(delayMs: number): boolean {
    return this.settle('nak', () => this.msg.nak(Math.max(0, Math.round(delayMs))));
  }

  /**
   * Terminates the message. The reason is sent only to servers that
   * understand it (≥ 2.11): older servers ignore `+TERM <reason>` altogether
   * and would redeliver the message, so they get a bare `+TERM`. The reason
   * is kept in the dead letter either way.
   */
  term(reason: string): boolean {
    return this.settle('term', () =>
      this.termWithReason ? this.msg.term(reason.slice(0, 1000)) : this.msg.term(),
    );
  }

  private settle(as: SettledAs, send: () => void): boolean {
    if (this.settledAs) return false;
    this.settledAs = as;
    this.stopHeartbeat();
    send();
    return true;
  }
}

/**
 * Whether the server behind `js` accepts `+TERM <reason>` (nats-server ≥ 2.11).
 * The JetStream client does not expose its connection in its public type, so
 * this looks for it structurally; when it cannot tell, it answers false, which
 * is always safe.
 */
export function serverSupportsTermReason(js: JetStreamClient): boolean {
  const version = connectionOf(js)?.info?.version;
  if (typeof version !== 'string') return false;
  const [major = 0, minor = 0] = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  return major > 2 || (major === 2 && minor >= 11);
}

/**
 * The connection behind a JetStream client. The public `JetStreamClient` type
 * does not expose it (the implementation has it as `nc`), so this is a
 * structural look-up that may answer undefined.
 */
export function connectionOf(js: JetStreamClient): NatsConnection | undefined {
  const nc = (js as unknown as { nc?: Partial<NatsConnection> }).nc;
  return nc && typeof nc.flush === 'function' && typeof nc.isClosed === 'function'
    ? (nc as NatsConnection)
    : undefined;
}

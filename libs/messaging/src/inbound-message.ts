/**
 * What a consumer handler sees: a read-only view of one delivery. The handler
 * never acks itself; it returns a `Disposition` (or throws) and the consumer
 * loop settles the message exactly once.
 */
export interface InboundMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** NATS headers as a record (a repeated header keeps its last value). */
  readonly headers: Readonly<Record<string, string>>;
  readonly streamSequence: number;
  /** 1 on the first delivery, incremented by JetStream on every redelivery. */
  readonly deliveries: number;
  /** The publisher's `Nats-Msg-Id`, if it set one. */
  readonly msgId?: string;
  /** The payload decoded as UTF-8. */
  text(): string;
  /**
   * Tells JetStream the message is still being worked on (resets its ack
   * timer). The consumer loop already does this every `heartbeatMs` while the
   * handler runs; call it yourself only around a single step that might
   * block longer than that. A no-op once the message is settled.
   */
  working(): void;
}

/**
 * How a handled message ends:
 * - `ack`: done; never redelivered.
 * - `nak`: redeliver after `delayMs` (on the last allowed delivery the message
 *   is dead-lettered with code `RETRIES_EXHAUSTED` instead).
 * - `term`: give up; the message is dead-lettered with `code`/`reason`, then
 *   terminated. To drop a message deliberately without a dead letter, `ack` it.
 */
export type Disposition =
  | { kind: 'ack' }
  | { kind: 'nak'; delayMs: number }
  | { kind: 'term'; code: string; reason: string };

export const Disposition = {
  ack: (): Disposition => ({ kind: 'ack' }),
  nak: (delayMs: number): Disposition => ({ kind: 'nak', delayMs }),
  term: (code: string, reason: string): Disposition => ({ kind: 'term', code, reason }),
} as const;

export type MessageHandler = (msg: InboundMessage) => Promise<Disposition> | Disposition;

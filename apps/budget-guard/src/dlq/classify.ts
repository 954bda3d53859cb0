import { z } from 'zod';
import { DeadLetter, KeelHeaders, RunRequest, runIdFor, type KeelNames } from '@keel/contracts';
import { DlqCode, type NewDlqEntry } from '@keel/dlq';
import { summariseIssues } from '@keel/messaging';

/**
 * What an entry of the DLQ stream is, decided from its bytes alone (pure):
 * a consumer's dead letter, one of JetStream's advisories (whose original
 * message is read afterwards), or something unreadable — which is recorded
 * too, never thrown on: a poison entry must not stop ingestion.
 */

export const AdvisoryType = {
  maxDeliver: 'io.nats.jetstream.advisory.v1.max_deliver',
  terminated: 'io.nats.jetstream.advisory.v1.terminated',
} as const;

/** The fields Keel uses of MAX_DELIVERIES and MSG_TERMINATED advisories (nats-server 2.9+). */
export const JetStreamAdvisory = z.object({
  type: z.enum([AdvisoryType.maxDeliver, AdvisoryType.terminated]),
  timestamp: z.string(),
  stream: z.string().min(1),
  consumer: z.string().min(1),
  stream_seq: z.number().int(),
  deliveries: z.number().int(),
  /** The reason given with `+TERM` (nats-server ≥ 2.11). */
  reason: z.string().optional(),
});
export type JetStreamAdvisory = z.infer<typeof JetStreamAdvisory>;

export interface DlqMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** The entry's sequence in the DLQ stream. */
  readonly dlqStreamSeq: number;
}

export type Classified =
  | { readonly kind: 'entry'; readonly entry: NewDlqEntry }
  | { readonly kind: 'advisory'; readonly advisory: JetStreamAdvisory };

const MAX_REASON = 4000;

export function classifyDlqMessage(m: DlqMessage, names: KeelNames, now: Date): Classified {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(m.data));
  } catch (err) {
    return unreadable(m, names, now, `not JSON (${(err as Error).message})`);
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && type.startsWith('io.nats.jetstream.advisory.')) {
    const advisory = JetStreamAdvisory.safeParse(value);
    if (!advisory.success) {
      return unreadable(
        m,
        names,
        now,
        `an advisory Keel does not read (${type}): ${summariseIssues(advisory.error.issues)}`,
      );
    }
    return { kind: 'advisory', advisory: advisory.data };
  }
  const dl = DeadLetter.safeParse(value);
  if (!dl.success) {
    return unreadable(
      m,
      names,
      now,
      `neither a dead letter nor a JetStream advisory: ${summariseIssues(dl.error.issues)}`,
    );
  }
  const d = dl.data;
  const payload = Buffer.from(d.payloadBase64, 'base64');
  return {
    kind: 'entry',
    entry: {
      dlqStreamSeq: m.dlqStreamSeq,
      kind: 'dead_letter',
      consumer: d.consumer,
      stream: d.stream,
      subject: d.subject,
      streamSeq: d.streamSequence,
      deliveries: d.deliveries,
      code: d.code,
      reason: d.reason,
      runId: d.runId ?? runIdOf(d.stream, d.headers, payload, names),
      traceId: d.traceId ?? traceIdOf(d.headers),
      payload: new Uint8Array(payload),
      headers: d.headers,
      deadLetteredAt: validDate(d.deadLetteredAt) ?? now,
    },
  };
}

/** The original message of an advisory as read from its stream, or why it could not be. */
export type Original =
  | {
      readonly found: true;
      readonly subject: string;
      readonly data: Uint8Array;
      readonly headers: Readonly<Record<string, string>>;
    }
  | { readonly found: false; readonly why: string };

export function advisoryEntry(
  dlqStreamSeq: number,
  a: JetStreamAdvisory,
  original: Original,
  names: KeelNames,
  now: Date,
): NewDlqEntry {
  const maxDeliver = a.type === AdvisoryType.maxDeliver;
  let reason = maxDeliver
    ? `JetStream stopped redelivering after ${a.deliveries} deliveries: max_deliver reached without an ack or term`
    : `the consumer terminated the message after ${a.deliveries} deliveries${a.reason ? `: ${a.reason}` : ''}`;
  if (!original.found) reason += `; ${original.why}`;
  const headers = original.found ? original.headers : {};
  return {
    dlqStreamSeq,
    kind: maxDeliver ? 'max_deliveries' : 'terminated',
    consumer: a.consumer,
    stream: a.stream,
    subject: original.found ? original.subject : null,
    streamSeq: a.stream_seq,
    deliveries: a.deliveries,
    code: maxDeliver ? DlqCode.MAX_DELIVERIES : DlqCode.TERMINATED,
    reason: clip(reason),
    runId: original.found ? runIdOf(a.stream, headers, original.data, names) : null,
    traceId: traceIdOf(headers),
    payload: original.found ? original.data : null,
    headers,
    deadLetteredAt: validDate(a.timestamp) ?? now,
  };
}

/**
 * The run a message belongs to: its `Keel-Run-Id` header (every event has
 * one), else — for a run request on the ingress, which has none — the run id
 * the planner derives from a valid request.
 */
export function runIdOf(
  stream: string,
  headers: Readonly<Record<string, string>>,
  payload: Uint8Array,
  names: KeelNames,
): string | null {
  const header = headers[KeelHeaders.runId];
  if (header) return header;
  if (stream !== names.streams.ingress) return null;
  try {
    const req = RunRequest.safeParse(JSON.parse(new TextDecoder().decode(payload)));
    return req.success ? runIdFor(req.data.tenant, req.data.requestId) : null;
  } catch {
    return null;
  }
}

/** The trace id of a W3C `traceparent` header (`00-<trace id>-<span id>-<flags>`). */
export function traceIdOf(headers: Readonly<Record<string, string>>): string | null {
  const tp = Object.entries(headers).find(([k]) => k.toLowerCase() === 'traceparent')?.[1];
  const m = tp ? /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(tp.trim()) : null;
  return m?.[1] ?? null;
}

function unreadable(m: DlqMessage, names: KeelNames, now: Date, why: string): Classified {
  return {
    kind: 'entry',
    entry: {
      dlqStreamSeq: m.dlqStreamSeq,
      kind: 'dead_letter',
      consumer: consumerOfSubject(m.subject, names) ?? '(unknown)',
      // Where the message really came from is unknown: no redrive, no duplicate matching.
      stream: null,
      subject: null,
      streamSeq: null,
      deliveries: null,
      code: DlqCode.UNREADABLE,
      reason: clip(`the DLQ entry on '${m.subject}' is ${why}`),
      runId: m.headers[KeelHeaders.runId] ?? null,
      traceId: traceIdOf(m.headers),
      payload: m.data,
      headers: m.headers,
      deadLetteredAt: now,
    },
  };
}

/** `<prefix>.dlq.<consumer>` or `$JS.EVENT.ADVISORY.CONSUMER.<KIND>.<stream>.<consumer>`. */
function consumerOfSubject(subject: string, names: KeelNames): string | undefined {
  const dlq = `${names.prefix}.dlq.`;
  if (subject.startsWith(dlq)) return subject.slice(dlq.length) || undefined;
  if (subject.startsWith('$JS.EVENT.ADVISORY.CONSUMER.')) return subject.split('.').at(-1);
  return undefined;
}

function validDate(s: string): Date | undefined {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const clip = (s: string) => (s.length > MAX_REASON ? `${s.slice(0, MAX_REASON - 1)}…` : s);

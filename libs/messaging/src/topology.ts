import type { KeelNames } from '@keel/contracts';
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  type JetStreamManager,
  NatsError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from 'nats';
import { TopologyError, TopologyErrorCode } from './errors';

/**
 * Streams and consumers are declared by the services that use them, at
 * start-up, idempotently: create if missing, update if the config differs,
 * never delete. Several replicas may start at once; "already exists" races are
 * resolved by re-reading and comparing. A difference that JetStream cannot
 * apply in place (retention, storage, ack policy, subjects claimed by another
 * stream) fails start-up with `TopologyError` `TOPOLOGY_CONFLICT`: that needs a
 * human and a migration, not a silent recreate.
 */

const MS = 1_000_000; // nanoseconds per millisecond
const MINUTE_NS = 60_000 * MS;
const DAY_NS = 24 * 60 * MINUTE_NS;

/** The fields of a stream this library manages; anything else on the stream is left alone. */
export interface StreamSpec {
  name: string;
  subjects: string[];
  retention: RetentionPolicy;
  storage: StorageType;
  /** Nanoseconds; 0 = unlimited. */
  max_age: number;
  /** Nanoseconds. */
  duplicate_window: number;
  num_replicas: number;
  deny_delete: boolean;
  deny_purge: boolean;
  description: string;
}

export interface EnsureStreamsOptions {
  /** Replicas per stream (1 for a single server, 3 in a cluster). Default 1. */
  replicas?: number;
}

/** The three streams of a deployment, derived from its names. */
export function keelStreamSpecs(names: KeelNames, opts: EnsureStreamsOptions = {}): StreamSpec[] {
  const num_replicas = opts.replicas ?? 1;
  return [
    {
      name: names.streams.ingress,
      subjects: [names.subjects.runRequest.pattern],
      // WorkQueue: a run request is work to hand to exactly one planner; once
      // acked (the RunRequested event is committed in PostgreSQL, which is the
      // record) it is deleted. The server also refuses a second consumer on the
      // subject, so requests cannot be processed twice by a mis-deployed
      // consumer. Dedup (Nats-Msg-Id = request id) works regardless of retention.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: 0,
      duplicate_window: 2 * MINUTE_NS,
      num_replicas,
      deny_delete: false,
      deny_purge: false,
      description: 'Keel run requests from upstream systems (work queue, deduped by request id)',
    },
    {
      name: names.streams.events,
      subjects: [names.subjects.event.pattern],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 7 * DAY_NS,
      duplicate_window: 2 * MINUTE_NS,
      num_replicas,
      // Transport copy of the log: nobody edits it in place.
      deny_delete: true,
      deny_purge: true,
      description: 'Keel events relayed from the PostgreSQL log (transport, not the record)',
    },
    {
      name: names.streams.dlq,
      subjects: [names.subjects.dlq.pattern, ...names.subjects.advisories],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 30 * DAY_NS,
      duplicate_window: 2 * MINUTE_NS,
      num_replicas,
      deny_delete: false,
      deny_purge: false,
      description: 'Keel dead letters and JetStream max-deliveries / terminated advisories',
    },
  ];
}

/** Declares the ingress, events and DLQ streams of a deployment (see `keelStreamSpecs`). */
export async function ensureStreams(
  jsm: JetStreamManager,
  names: KeelNames,
  opts: EnsureStreamsOptions = {},
): Promise<StreamInfo[]> {
  const infos: StreamInfo[] = [];
  for (const spec of keelStreamSpecs(names, opts)) infos.push(await ensureStream(jsm, spec));
  return infos;
}

const RACE_ATTEMPTS = 5;

/** Creates the stream, or updates the managed fields if they differ. Never deletes. */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<StreamInfo> {
  for (let attempt = 0; attempt < RACE_ATTEMPTS; attempt++) {
    const current = await streamInfoOrNull(jsm, spec.name);
    if (!current) {
      try {
        return await jsm.streams.add(spec);
      } catch (err) {
        // Another replica created it first (with a different config than ours):
        // re-read and reconcile.
        if (apiErrCode(err) === ERR.STREAM_NAME_IN_USE) continue;
        throw topologyError(`create stream ${spec.name}`, err);
      }
    }
    const diff = streamDiff(current.config, spec);
    if (diff.length === 0) return current;
    const immutable = diff.filter((f) => f === 'retention' || f === 'storage');
    if (immutable.length > 0) {
      throw new TopologyError(
        TopologyErrorCode.CONFLICT,
        `stream ${spec.name} exists with a different ${immutable.join(', ')}; JetStream cannot change that in place`,
      );
    }
    if (
      (current.config.deny_delete && !spec.deny_delete) ||
      (current.config.deny_purge && !spec.deny_purge)
    ) {
      throw new TopologyError(
        TopologyErrorCode.CONFLICT,
        `stream ${spec.name} has deny_delete/deny_purge set; they cannot be cleared`,
      );
    }
    try {
      const { name: _name, retention: _r, storage: _s, ...updatable } = spec;
      return await jsm.streams.update(spec.name, updatable);
    } catch (err) {
      if (apiErrCode(err) === ERR.STREAM_NOT_FOUND) continue;
      throw topologyError(`update stream ${spec.name} (${diff.join(', ')})`, err);
    }
  }
  throw new TopologyError(
    TopologyErrorCode.FAILED,
    `stream ${spec.name} kept changing under us; gave up`,
  );
}

/** The managed fields that differ between `current` and `spec`. */
export function streamDiff(current: StreamConfig, spec: StreamSpec): Array<keyof StreamSpec> {
  const diff: Array<keyof StreamSpec> = [];
  if (!sameSet(current.subjects ?? [], spec.subjects)) diff.push('subjects');
  const scalar: Array<keyof StreamSpec> = [
    'retention',
    'storage',
    'max_age',
    'duplicate_window',
    'num_replicas',
    'deny_delete',
    'deny_purge',
    'description',
  ];
  for (const key of scalar) {
    const have: unknown = current[key as keyof StreamConfig];
    const want = spec[key];
    if (typeof want === 'boolean' ? Boolean(have) !== want : (have ?? '') !== want) diff.push(key);
  }
  return diff;
}

/** A durable pull consumer with explicit acks, delivering the whole stream from the start. */
export interface ConsumerSpec {
  durable: string;
  /** One subject (nats-server 2.9 supports a single filter per consumer). */
  filterSubject: string;
  /** Server-side cap on unacked messages across all replicas of the service; ≥ the sum of their concurrency. */
  maxAckPending: number;
  /** Redelivery after this long without ack / nak / term / working. */
  ackWaitMs: number;
  /** Deliveries before JetStream gives up (the consumer loop dead-letters on the last one). */
  maxDeliver: number;
  description?: string;
}

export function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> {
  return {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    filter_subject: spec.filterSubject,
    max_ack_pending: spec.maxAckPending,
    ack_wait: spec.ackWaitMs * MS,
    max_deliver: spec.maxDeliver,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
  };
}

/** Creates the durable consumer, or updates it if its config differs. Never deletes. */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  spec: ConsumerSpec,
): Promise<ConsumerInfo> {
  const want = consumerConfig(spec);
  for (let attempt = 0; attempt < RACE_ATTEMPTS; attempt++) {
    const current = await consumerInfoOrNull(jsm, stream, spec.durable);
    if (!current) {
      try {
        return await jsm.consumers.add(stream, want);
      } catch (err) {
        const code = apiErrCode(err);
        if (code === ERR.CONSUMER_EXISTS || code === ERR.CONSUMER_NAME_EXISTS) continue;
        throw topologyError(`create consumer ${stream}/${spec.durable}`, err);
      }
    }
    const diff = consumerDiff(current.config, want);
    if (diff.length === 0) return current;
    if (current.config.deliver_subject) {
      throw new TopologyError(
        TopologyErrorCode.CONFLICT,
        `consumer ${stream}/${spec.durable} exists as a push consumer`,
      );
    }
    if (diff.includes('ack_policy') || diff.includes('deliver_policy')) {
      throw new TopologyError(
        TopologyErrorCode.CONFLICT,
        `consumer ${stream}/${spec.durable} exists with a different ${diff.join(', ')}; JetStream cannot change that in place`,
      );
    }
    try {
      return await jsm.consumers.update(stream, spec.durable, {
        filter_subject: spec.filterSubject,
        max_ack_pending: spec.maxAckPending,
        ack_wait: spec.ackWaitMs * MS,
        max_deliver: spec.maxDeliver,
        ...(spec.description !== undefined ? { description: spec.description } : {}),
      });
    } catch (err) {
      if (apiErrCode(err) === ERR.CONSUMER_NOT_FOUND) continue;
      throw topologyError(`update consumer ${stream}/${spec.durable} (${diff.join(', ')})`, err);
    }
  }
  throw new TopologyError(
    TopologyErrorCode.FAILED,
    `consumer ${stream}/${spec.durable} kept changing under us; gave up`,
  );
}

function consumerDiff(current: ConsumerConfig, want: Partial<ConsumerConfig>): string[] {
  const keys = [
    'ack_policy',
    'deliver_policy',
    'filter_subject',
    'max_ack_pending',
    'ack_wait',
    'max_deliver',
    'description',
  ] as const;
  return keys.filter((k) => want[k] !== undefined && (current[k] ?? '') !== want[k]);
}

/** JetStream API error codes we branch on. */
const ERR = {
  STREAM_NOT_FOUND: 10059,
  STREAM_NAME_IN_USE: 10058,
  CONSUMER_NOT_FOUND: 10014,
  CONSUMER_NAME_EXISTS: 10013,
  CONSUMER_EXISTS: 10148,
} as const;

function apiErrCode(err: unknown): number | undefined {
  return err instanceof NatsError ? err.jsError()?.err_code : undefined;
}

async function streamInfoOrNull(jsm: JetStreamManager, name: string): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (apiErrCode(err) === ERR.STREAM_NOT_FOUND) return null;
    throw topologyError(`read stream ${name}`, err);
  }
}

async function consumerInfoOrNull(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
): Promise<ConsumerInfo | null> {
  try {
    return await jsm.consumers.info(stream, durable);
  } catch (err) {
    if (apiErrCode(err) === ERR.CONSUMER_NOT_FOUND) return null;
    throw topologyError(`read consumer ${stream}/${durable}`, err);
  }
}

function topologyError(what: string, err: unknown): TopologyError {
  const message = err instanceof Error ? err.message : String(err);
  // 400-class API errors (overlapping subjects, invalid update) need a human.
  const status = err instanceof NatsError ? err.jsError()?.code : undefined;
  const code = status === 400 ? TopologyErrorCode.CONFLICT : TopologyErrorCode.FAILED;
  return new TopologyError(code, `${what}: ${message}`, { cause: err });
}

function sameSet(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

import type { KeelNames } from '@keel/contracts';

/**
 * Every durable consumer of the deployment, defined once.
 *
 * `maxDeliver` is generous on purpose: a handler that cannot reach PostgreSQL
 * (restart, failover) naks with exponential backoff (capped at 30 s), and an
 * infrastructure outage must not use up a message's deliveries and send it to
 * the dead-letter queue. Poison messages do not count on it: they are
 * recognised and dead-lettered on their first delivery. Services bind to
 * these; `keel provision` (the NATS admin user) declares them when services
 * run without JetStream admin rights.
 *
 * `maxAckPending` is the fleet-wide bound (all replicas together); each
 * replica's in-process concurrency is its own, smaller bound.
 */
export interface ConsumerSpec {
  readonly stream: string;
  readonly durable: string;
  readonly filterSubject: string;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly maxAckPending: number;
}

export function plannerConsumers(names: KeelNames) {
  return {
    ingress: {
      stream: names.streams.ingress,
      durable: names.consumers.plannerIngress,
      filterSubject: names.subjects.runRequest.pattern,
      ackWaitMs: 30_000,
      maxDeliver: 50,
      maxAckPending: 1000,
    },
    toolResults: {
      stream: names.streams.events,
      durable: names.consumers.plannerToolResults,
      filterSubject: names.subjects.toolCallEvents.pattern,
      ackWaitMs: 30_000,
      maxDeliver: 50,
      maxAckPending: 1000,
    },
    deadlines: {
      stream: names.streams.events,
      durable: names.consumers.plannerDeadlines,
      filterSubject: names.subjects.deadlinesExceeded.pattern,
      ackWaitMs: 30_000,
      maxDeliver: 50,
      maxAckPending: 1000,
    },
    wakeups: {
      stream: names.streams.events,
      durable: names.consumers.plannerWakeups,
      filterSubject: names.subjects.runWakeups.pattern,
      ackWaitMs: 30_000,
      maxDeliver: 50,
      maxAckPending: 1000,
    },
    /** Runs paused by the kill switch, released (`SpendingResumed`). */
    resumes: {
      stream: names.streams.events,
      durable: names.consumers.plannerResumes,
      filterSubject: names.subjects.spendingResumed.pattern,
      ackWaitMs: 30_000,
      maxDeliver: 50,
      maxAckPending: 1000,
    },
  } satisfies Record<string, ConsumerSpec>;
}

/**
 * The outbox's deliveries (webhooks, email). A failed attempt is nak'ed with
 * its retry delay and stays pending meanwhile, so `maxAckPending` bounds the
 * deliveries in progress plus those waiting for their next attempt.
 */
export function deliveryConsumer(names: KeelNames): ConsumerSpec {
  return {
    stream: names.streams.events,
    durable: names.consumers.outboxDeliveries,
    filterSubject: names.subjects.deliveryRequests.pattern,
    ackWaitMs: 30_000,
    maxDeliver: 50,
    maxAckPending: 256,
  };
}

/** Run endings after which a run's completed side effects are compensated. */
export const COMPENSATION_TRIGGERS = ['RunFailed', 'RunCancelled', 'RunTimedOut'] as const;

export function compensationConsumers(names: KeelNames): ConsumerSpec[] {
  return COMPENSATION_TRIGGERS.map((ending) => ({
    stream: names.streams.events,
    durable: names.consumers.toolCompensations(ending),
    filterSubject: names.subjects.eventsOfType.pattern('run', ending),
    ackWaitMs: 60_000,
    maxDeliver: 50,
    maxAckPending: 64,
  }));
}

export function toolPoolConsumer(names: KeelNames, pool: string): ConsumerSpec {
  return {
    stream: names.streams.events,
    durable: names.consumers.toolPool(pool),
    filterSubject: names.subjects.toolCallRequests.pattern(pool),
    ackWaitMs: 30_000,
    maxDeliver: 50,
    maxAckPending: 256,
  };
}

/**
 * The budget guard's consumers. `dlqIngest` reads the whole DLQ stream (dead
 * letters and JetStream's advisories: `>`, as nats-server 2.9 allows one
 * filter) into the `dead_letters` table. Ingestion never dead-letters on its
 * own (an unreadable entry is stored as `UNREADABLE`); a failing database is
 * retried with backoff, and only after `maxDeliver` attempts would the entry
 * be dead-lettered — into the DLQ again, so it is not lost either way.
 */
export function budgetGuardConsumers(names: KeelNames) {
  return {
    dlqIngest: {
      stream: names.streams.dlq,
      durable: names.consumers.dlqIngest,
      filterSubject: '>',
      ackWaitMs: 30_000,
      maxDeliver: 200,
      maxAckPending: 256,
    },
  } satisfies Record<string, ConsumerSpec>;
}

/**
 * The budget guard's health ingestion for fleet-wide breakers: one durable
 * per outcome event type (nats-server 2.9 allows one filter subject per
 * consumer, and following all run events would deliver ten times as many).
 */
export function breakerHealthConsumers(
  names: KeelNames,
  types: readonly { aggregate: 'run' | 'toolcall'; type: string }[],
): ConsumerSpec[] {
  return types.map(({ aggregate, type }) => ({
    stream: names.streams.events,
    durable: names.consumers.breakerHealth(type),
    filterSubject: names.subjects.eventsOfType.pattern(aggregate, type),
    ackWaitMs: 30_000,
    maxDeliver: 50,
    maxAckPending: 1000,
  }));
}

/**
 * The API's projector (apps/api): every event subject, to keep the
 * `run_summaries` read model current. A message is only a signal; the
 * projector reads the stream from the log, so order and gaps do not matter.
 */
export const API_PROJECTOR_DURABLE = 'api-projector';

export function apiProjectorConsumer(names: KeelNames): ConsumerSpec {
  return {
    stream: names.streams.events,
    durable: API_PROJECTOR_DURABLE,
    filterSubject: names.subjects.event.pattern,
    ackWaitMs: 30_000,
    maxDeliver: 50,
    maxAckPending: 1000,
  };
}

/** All durables of a deployment whose tool executors serve `pools`. */
export function allConsumers(
  names: KeelNames,
  pools: readonly string[],
  healthTypes: readonly { aggregate: 'run' | 'toolcall'; type: string }[],
): ConsumerSpec[] {
  const p = plannerConsumers(names);
  return [
    p.ingress,
    p.toolResults,
    p.wakeups,
    p.deadlines,
    p.resumes,
    ...pools.map((pool) => toolPoolConsumer(names, pool)),
    ...compensationConsumers(names),
    deliveryConsumer(names),
    budgetGuardConsumers(names).dlqIngest,
    apiProjectorConsumer(names),
    ...breakerHealthConsumers(names, healthTypes),
  ];
}

/**
 * Every NATS subject, stream and consumer name Keel uses, defined once.
 *
 * All names hang off a deployment prefix (default `keel`) so several deployments
 * or test runs can share one NATS server without seeing each other's traffic.
 * Each entry is a subscribe `pattern` plus a `build` function for publishers.
 *
 * Event subjects: `<prefix>.evt.<aggregate>.<route>.<type>.<runId>`
 *   - aggregate: run | toolcall | budget | delivery | compensation (the stream category)
 *   - route: the tool pool for work that a pool executes, `_` otherwise; this is
 *     what lets a pool's consumer see only its own tool calls (the bulkhead)
 *   - runId: lets an operator replay or follow one run with a filtered consumer
 */

export type Aggregate = 'run' | 'toolcall' | 'budget' | 'delivery' | 'compensation';

/** Route token for events that are not work for a tool pool. */
export const NO_ROUTE = '_';

const PREFIX_RE = /^[a-z][a-z0-9-]{0,30}$/;
const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

export class InvalidNameError extends Error {
  override name = 'InvalidNameError';
}

/** A single subject token: no dots, wildcards or whitespace. */
export function assertToken(kind: string, value: string): string {
  if (!TOKEN_RE.test(value)) throw new InvalidNameError(`invalid ${kind} token: '${value}'`);
  return value;
}

export function keelNames(prefix: string) {
  if (!PREFIX_RE.test(prefix)) {
    throw new InvalidNameError(`invalid prefix '${prefix}': use [a-z][a-z0-9-]{0,30}`);
  }
  const P = prefix.toUpperCase().replace(/-/g, '_');
  const streams = {
    /** Run requests from upstream systems (work queue semantics, deduped by request id). */
    ingress: `${P}_INGRESS`,
    /** Every event of the log, relayed from PostgreSQL. Transport, not the record. */
    events: `${P}_EVENTS`,
    /** Poison messages (with reason) and JetStream's max-deliveries / terminated advisories. */
    dlq: `${P}_DLQ`,
  } as const;

  const buckets = {
    /** Fleet-wide breaker states (NATS KV): written by the budget guard, watched by replicas. */
    breakers: `${P}_BREAKERS`,
  } as const;

  return {
    prefix,
    streams,
    buckets,
    subjects: {
      /** Upstream systems publish a RunRequest here; set `Nats-Msg-Id` to the request id. */
      runRequest: {
        pattern: `${prefix}.ingress.run-request`,
        build: () => `${prefix}.ingress.run-request`,
      },
      /** All events; see the module comment for the token layout. */
      event: {
        pattern: `${prefix}.evt.>`,
        build: (aggregate: Aggregate, route: string, type: string, runId: string) =>
          `${prefix}.evt.${aggregate}.${assertToken('route', route)}.${assertToken('type', type)}.${assertToken('run id', runId)}`,
      },
      /** Tool calls requested for one pool: the subject a pool's consumer filters on. */
      toolCallRequests: {
        pattern: (pool: string) =>
          `${prefix}.evt.run.${assertToken('pool', pool)}.ToolCallRequested.*`,
      },
      /** Deliveries (webhook, email) the outbox performs. */
      deliveryRequests: { pattern: `${prefix}.evt.delivery._.DeliveryRequested.*` },
      /** Outcomes of tool calls, consumed by the planner. */
      toolCallEvents: { pattern: `${prefix}.evt.toolcall.>` },
      /** Run events, consumed by the budget guard and by observers. */
      runEvents: { pattern: `${prefix}.evt.run.>` },
      /** Every event of one type, e.g. every RunCompleted (for observers). */
      eventsOfType: {
        pattern: (aggregate: Aggregate, type: string) =>
          `${prefix}.evt.${aggregate}.*.${assertToken('type', type)}.*`,
      },
      /** Every event of one run (for following or replaying a single run). */
      eventsOfRun: {
        pattern: (runId: string) => `${prefix}.evt.*.*.*.${assertToken('run id', runId)}`,
      },
      /** Budget reservation: core NATS request/reply answered by a budget-guard replica. */
      budgetReserve: {
        pattern: `${prefix}.budget.reserve`,
        build: () => `${prefix}.budget.reserve`,
      },
      /** The kill switch: halt / release new spending (core NATS request/reply to a guard). */
      budgetHalt: {
        pattern: `${prefix}.cmd.budget.halt`,
        build: () => `${prefix}.cmd.budget.halt`,
      },
      budgetRelease: {
        pattern: `${prefix}.cmd.budget.release`,
        build: () => `${prefix}.cmd.budget.release`,
      },
      /** Deadlines the guard's sweeper fired, consumed by the planner. */
      deadlinesExceeded: { pattern: `${prefix}.evt.budget._.RunDeadlineExceeded.*` },
      /** Settle a reservation with the actual usage: core NATS request/reply. */
      budgetSettle: { pattern: `${prefix}.budget.settle`, build: () => `${prefix}.budget.settle` },
      /** Operator decision on a human review: core NATS request/reply answered by a planner replica. */
      runReview: { pattern: `${prefix}.cmd.run.review`, build: () => `${prefix}.cmd.run.review` },
      /** Cancel a run: core NATS request/reply answered by a planner replica. */
      runCancel: { pattern: `${prefix}.cmd.run.cancel`, build: () => `${prefix}.cmd.run.cancel` },
      /** Run events the planner must act on later (a review that asks for a re-plan). */
      runWakeups: { pattern: `${prefix}.evt.run._.HumanReviewDecided.*` },
      /** Runs paused by the kill switch that may go on (the planner resumes them). */
      spendingResumed: { pattern: `${prefix}.evt.budget._.SpendingResumed.*` },
      /**
       * Successes that matter to a fleet breaker (it counted failures or is half-open),
       * reported by planner and tool-executor replicas to the guard (core NATS, queue group).
       */
      breakerSuccess: {
        pattern: `${prefix}.breakers.success`,
        build: () => `${prefix}.breakers.success`,
      },
      /** Dead letters written by a consumer: the original payload plus the reason. */
      dlq: {
        pattern: `${prefix}.dlq.>`,
        build: (consumer: string) => `${prefix}.dlq.${assertToken('consumer', consumer)}`,
      },
      /** JetStream advisories captured into the DLQ stream, for this deployment's streams only. */
      advisories: [
        `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${P}_INGRESS.>`,
        `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${P}_EVENTS.>`,
        `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${P}_INGRESS.>`,
        `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${P}_EVENTS.>`,
      ],
    },
    /** Durable consumer names, one per (service, purpose); pools get their own. */
    consumers: {
      plannerIngress: 'planner-ingress',
      plannerToolResults: 'planner-tool-results',
      plannerWakeups: 'planner-wakeups',
      plannerDeadlines: 'planner-deadlines',
      toolPool: (pool: string) => `tool-pool-${assertToken('pool', pool)}`,
      budgetRunEvents: 'budget-guard-run-events',
      outboxDeliveries: 'outbox-deliveries',
      /**
       * The relay's view of what the events stream holds: a headers-only, no-ack
       * consumer its leader re-creates (not a durable; not declared at provisioning).
       */
      relayHeld: 'outbox-relay-held',
      /** The tool executor's saga runner: one durable per run ending that triggers compensation. */
      toolCompensations: (ending: string) => `tool-compensate-${assertToken('ending', ending)}`,
      /** The budget guard's ingestion of the DLQ stream into the `dead_letters` table. */
      dlqIngest: 'budget-guard-dlq',
      /** The budget guard's failure ingestion: one durable per outcome event type (fleet breakers). */
      breakerHealth: (type: string) => `budget-guard-health-${assertToken('type', type)}`,
      /** The planner's resumption of runs paused by the kill switch. */
      plannerResumes: 'planner-resumes',
    },
  };
}

export type KeelNames = ReturnType<typeof keelNames>;

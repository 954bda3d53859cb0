import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { streamIds, type ErrorInfo, type RunEvent } from '@keel/contracts';
import type { InboxEntry } from '@keel/event-store';
import { ConcurrencyError } from '@keel/event-store';
import { RetryableError } from '@keel/messaging';
import {
  buildTranscript,
  decideFailRun,
  decideModelDecision,
  evolveRun,
  isFinal,
  nextAction,
  PROMPT_VERSION,
  type ActiveRunState,
  type RunState,
} from '@keel/run-domain';
import {
  commitStep,
  loadAggregate,
  newEventMetadata,
  type AggregateCache,
  type AppendBatcher,
  type FastPublisher,
} from '@keel/runtime';
import type { ToolRegistry } from '@keel/tools';
import type { BudgetClient } from './budget/budget-client';
import { toDecision } from './model/decision';
import {
  ModelCallError,
  type ModelClient,
  type ModelReply,
  type ToolSpec,
} from './model/model-client';
import { runAggregate } from './run-aggregate';

/** Safety net against a bug looping forever inside one delivery; real limits are in the run. */
const MAX_ITERATIONS_PER_DELIVERY = 1000;
const MAX_CONFLICT_RETRIES = 5;

export interface DriverDeps {
  readonly pool: Pool;
  readonly model: ModelClient;
  readonly budget: BudgetClient;
  readonly tools: ToolRegistry;
  readonly log: Logger;
  readonly cache: AggregateCache<RunState>;
  readonly publisher: FastPublisher;
  /** Steps of different runs that commit together share one statement. */
  readonly batcher: AppendBatcher;
  readonly maxOutputTokens: number;
}

/** What a delivery brings: events to record (decided from the state) and its inbox entry. */
export interface DriveInput {
  readonly decide?: (state: RunState) => RunEvent[];
  readonly inbox?: InboxEntry;
}

/**
 * Drives one run forward from whatever its stream says is pending: it records
 * the delivery's input, and while the next action is a model call it reserves
 * budget, calls the model and records the decision — until the run must wait
 * for tools or is finished.
 *
 * The input's events are committed together with the next decision (one
 * statement: inbox row + events), so a tool round costs one commit here. That
 * is safe: the input is already durable in its own stream (the tool call's),
 * and the message is acked only after this commit.
 *
 * Safe to call any number of times, from any replica: every step is decided
 * from the recorded state and appended with an expected version; a conflict
 * re-reads the stream and decides again, and deciders ignore repeats.
 */
export class RunDriver {
  constructor(private readonly deps: DriverDeps) {}

  async drive(runId: string, causationId: string, input: DriveInput = {}): Promise<RunState> {
    let conflicts = 0;
    let { decide, inbox } = input;
    const streamId = streamIds.run(runId);
    for (let i = 0; i < MAX_ITERATIONS_PER_DELIVERY; i++) {
      const entry = await loadAggregate(this.deps.pool, runAggregate, streamId, this.deps.cache);
      const inputEvents = decide ? decide(entry.state) : [];
      const state = inputEvents.reduce(evolveRun, entry.state);
      const action = nextAction(state);
      let events: RunEvent[] = inputEvents;
      let settle: (() => Promise<void>) | undefined;
      if (action.kind === 'call_model' && state.status !== 'none') {
        const step = await this.modelStep(state, action.step);
        events = [...inputEvents, ...step.events];
        settle = step.settle;
      } else if (action.kind === 'fail' && state.status !== 'none') {
        events = [...inputEvents, ...decideFailRun(state, action.error)];
      }
      try {
        const done = await commitStep(this.deps.pool, runAggregate, streamId, entry, events, {
          metadata: () => this.metadata(state, causationId),
          cache: this.deps.cache,
          batcher: this.deps.batcher,
          ...(inbox ? { inbox } : {}),
        });
        // Already handled (by an earlier delivery or another replica): this
        // process's view of the run may be behind, so re-read it.
        if (done.duplicate) this.deps.cache.delete(streamId);
        this.deps.publisher.publish(done.records);
        if (settle) void settle();
        // The input is recorded (or was, by an earlier delivery): from here on, drive from the state.
        decide = undefined;
        inbox = undefined;
        if (!done.duplicate && (action.kind === 'finished' || action.kind === 'wait_for_tools'))
          return done.entry.state;
      } catch (err) {
        if (!(err instanceof ConcurrencyError) || ++conflicts > MAX_CONFLICT_RETRIES) throw err;
      }
    }
    throw new Error(
      `run ${runId}: driver did not settle after ${MAX_ITERATIONS_PER_DELIVERY} iterations`,
    );
  }

  /**
   * Reserve (settling the previous step's reservation in the same request),
   * call the model, validate its reply into a decision. Returns the events to
   * record and, for a final decision, a settle to send after the commit.
   */
  private async modelStep(
    state: ActiveRunState,
    step: number,
  ): Promise<{ events: RunEvent[]; settle?: () => Promise<void> }> {
    const { budget, model, tools, log } = this.deps;
    const messages = buildTranscript(state);
    const reservationId = `${state.runId}:${step}`;
    const previous = state.history.findLast((h) => h.kind === 'decision');
    const grant = await budget.reserve({
      runId: state.runId,
      tenant: state.tenant,
      reservationId,
      tokens: Math.ceil(JSON.stringify(messages).length / 4) + this.deps.maxOutputTokens,
      limitTokens: state.limits.maxTokens,
      ...(previous?.kind === 'decision'
        ? { settle: { reservationId: `${state.runId}:${previous.step}`, usage: previous.usage } }
        : {}),
    });
    const fail = (error: ErrorInfo) => ({ events: decideFailRun(state, error) });
    if (grant.status === 'exhausted')
      return fail({ code: 'BUDGET_EXHAUSTED', message: grant.reason, retryable: false });

    let reply: ModelReply;
    try {
      reply = await model.complete({
        messages,
        tools: state.tools.filter((t) => tools.has(t)).map((t) => this.toolSpec(t)),
        maxOutputTokens: this.deps.maxOutputTokens,
        idempotencyKey: reservationId,
      });
    } catch (err) {
      if (err instanceof ModelCallError && err.retryable) {
        log.warn({ code: err.code, status: err.status, step }, 'model call failed; will retry');
        throw new RetryableError(err.message, {
          cause: err,
          ...(err.retryAfterMs ? { retryAfterMs: err.retryAfterMs } : {}),
        });
      }
      return fail(
        err instanceof ModelCallError
          ? { code: err.code, message: err.message, retryable: false }
          : { code: 'MODEL_ERROR', message: String(err), retryable: false },
      );
    }
    let decision;
    try {
      decision = toDecision(reply.reply, state.runId, step);
    } catch (err) {
      const e = err as ModelCallError;
      return fail({ code: e.code, message: e.message, retryable: false });
    }
    const events = decideModelDecision(state, {
      step,
      decision,
      usage: reply.usage,
      model: reply.model,
      promptVersion: PROMPT_VERSION,
      latencyMs: Math.round(reply.latencyMs * 1000) / 1000,
      poolOf: (t) => tools.poolOf(t),
    });
    // The run may end with this decision (a final answer, a final tool round, a limit):
    // then no later reserve carries its settlement, so send it on its own after the commit.
    const settle = () =>
      budget
        .settle({ runId: state.runId, tenant: state.tenant, reservationId, usage: reply.usage })
        .catch((err: unknown) =>
          log.warn({ err: String(err) }, 'budget settle failed; the guard keeps the reservation'),
        );
    const endsRun = isFinal(events.reduce(evolveRun, state as RunState));
    return {
      events,
      settle: endsRun || decision.kind === 'final' || decision.final ? settle : undefined,
    };
  }

  private toolSpec(name: string): ToolSpec {
    const t = this.deps.tools.get(name);
    return { name, description: t.description, parameters: this.deps.tools.inputJsonSchema(name) };
  }

  private metadata(state: RunState, causationId: string) {
    if (state.status === 'none') throw new Error('no run to record for');
    return newEventMetadata({
      runId: state.runId,
      tenant: state.tenant,
      causationId,
      producer: 'planner',
    });
  }
}

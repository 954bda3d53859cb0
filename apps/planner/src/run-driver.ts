import { countCommitted } from './run-metrics';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import {
  streamIds,
  type ModelDecision,
  type RunCommandReply,
  type RunEvent,
  type Usage,
} from '@keel/contracts';
import type { InboxEntry } from '@keel/event-store';
import { ConcurrencyError } from '@keel/event-store';
import { RetryableError, TerminalError } from '@keel/messaging';
import type { RetryPolicy } from '@keel/resilience';
import {
  evolveRun,
  isFinal,
  nextAction,
  type ActiveRunState,
  type CommandVerdict,
  type ReviewPolicy,
  type RunState,
} from '@keel/run-domain';
import {
  commitStep,
  loadAggregate,
  newEventMetadata,
  type AggregateCache,
  type AppendBatcher,
  type FastPublisher,
  type ReadBatcher,
} from '@keel/runtime';
import type { ToolRegistry } from '@keel/tools';
import type { BudgetClient } from './budget/budget-client';
import type { ReservationsAhead } from './budget/reservations-ahead';
import { ModelStep, type StepOutcome } from './model-step';
import type { ModelRouter } from './model/model-router';
import { runAggregate } from './run-aggregate';

/** Safety net against a bug looping forever inside one delivery; real limits are in the run. */
const MAX_ITERATIONS_PER_DELIVERY = 1000;
const MAX_CONFLICT_RETRIES = 5;

export interface DriverPolicy {
  readonly review: ReviewPolicy;
  readonly retry: RetryPolicy;
  readonly maxInvalidOutputs: number;
  readonly invalidOutputEscalation: 'review' | 'dead_letter';
  readonly maxOutputTokens: number;
  readonly contextTokens: number;
  /** Reserve-ahead's allowance for each pending tool result (0: reserve-ahead off). */
  readonly reserveAheadTokensPerTool: number;
}

export interface DriverDeps {
  readonly pool: Pool;
  readonly router: ModelRouter;
  readonly budget: BudgetClient;
  /** Next steps' reservations, asked while their tools run (docs/design/budgets.md). */
  readonly ahead?: ReservationsAhead;
  readonly tools: ToolRegistry;
  readonly log: Logger;
  readonly cache: AggregateCache<RunState>;
  readonly publisher: FastPublisher;
  /** Steps of different runs that commit together share one statement. */
  readonly batcher: AppendBatcher;
  /** Runs read from the log together (a cache miss: a run's first delivery) share one statement. */
  readonly reader?: ReadBatcher;
  readonly policy: DriverPolicy;
  /** Called after each commit that ended a run (e.g. for a dead letter or an alert). */
  readonly onRunEnded?: (state: ActiveRunState, events: readonly RunEvent[]) => void;
}

/** What a delivery brings: events to record (decided from the state) and its inbox entry. */
export interface DriveInput {
  readonly decide?: (state: RunState) => RunEvent[];
  readonly inbox?: InboxEntry;
}

/**
 * Drives one run forward from whatever its stream says is pending: it records
 * the delivery's input, then, while the run needs the model, reserves budget,
 * calls the model and records what came of it — until the run must wait (for
 * tools, a person, or a retry) or is finished.
 *
 * The input's events are committed together with the next model step (one
 * statement: inbox row + events), so a tool round costs one commit here.
 *
 * Retries are durable: a failed attempt is committed as `ModelCallFailed`
 * (with its delay) and the delivery is nak'ed with that delay; the
 * redelivery, on any replica, finds the attempt count in the stream.
 *
 * Safe to call any number of times, from any replica: every step is decided
 * from the recorded state and appended with an expected version; a conflict
 * re-reads the stream and decides again, and deciders ignore repeats.
 */
export class RunDriver {
  private readonly step: ModelStep;

  constructor(private readonly deps: DriverDeps) {
    this.step = new ModelStep(deps);
  }

  async drive(runId: string, causationId: string, input: DriveInput = {}): Promise<RunState> {
    let conflicts = 0;
    let { decide, inbox } = input;
    const streamId = streamIds.run(runId);
    for (let i = 0; i < MAX_ITERATIONS_PER_DELIVERY; i++) {
      const entry = await this.load(streamId);
      const events: RunEvent[] = decide ? decide(entry.state) : [];
      if (events.length === 0 && inbox) {
        // Nothing to record from this delivery: a redelivery, a late input, or a cached state
        // that is behind the stream. Record the inbox row alone first: its expected version
        // proves the state current (a stale one fails and is re-read), and a redelivery is
        // recognised before a model call is made, not after (when its result would be lost).
        try {
          const done = await commitStep(this.deps.pool, runAggregate, streamId, entry, [], {
            metadata: () => this.metadata(entry.state, causationId),
            cache: this.deps.cache,
            inbox,
          });
          if (done.duplicate) this.deps.cache.delete(streamId);
          decide = undefined;
          inbox = undefined;
        } catch (err) {
          if (!(err instanceof ConcurrencyError) || ++conflicts > MAX_CONFLICT_RETRIES) throw err;
        }
        continue;
      }
      let state = events.reduce(evolveRun, entry.state);
      let action = nextAction(state, new Date());
      while (action.kind === 'record') {
        events.push(...action.events);
        state = action.events.reduce(evolveRun, state);
        action = nextAction(state, new Date());
      }
      let outcome: StepOutcome | undefined;
      let next = state;
      if (action.kind === 'call_model' && state.status !== 'none') {
        outcome = await this.step.run(state, action.step, action.synthesis);
        events.push(...outcome.events);
        next = outcome.events.reduce(evolveRun, state);
      }
      if (events.length === 0 && !inbox) return state; // nothing to record: waiting or finished
      try {
        const done = await commitStep(this.deps.pool, runAggregate, streamId, entry, events, {
          metadata: () => this.metadata(state, causationId),
          cache: this.deps.cache,
          batcher: this.deps.batcher,
          next,
          ...(inbox ? { inbox } : {}),
        });
        // Already handled (by an earlier delivery or another replica): this
        // process's view of the run may be behind, so re-read it.
        if (done.duplicate) this.deps.cache.delete(streamId);
        this.deps.publisher.publish(done.records);
        decide = undefined;
        inbox = undefined;
        if (done.duplicate) continue;
        const after = done.entry.state;
        this.afterCommit(after, events, outcome);
        if (outcome?.retryInMs !== undefined) {
          throw new RetryableError(`model step ${outcome.stepNumber} will be retried`, {
            retryAfterMs: outcome.retryInMs,
          });
        }
        if (outcome?.paused) return after;
        if (action.kind !== 'call_model') return after;
      } catch (err) {
        if (!(err instanceof ConcurrencyError) || ++conflicts > MAX_CONFLICT_RETRIES) throw err;
      }
    }
    throw new Error(
      `run ${runId}: driver did not settle after ${MAX_ITERATIONS_PER_DELIVERY} iterations`,
    );
  }

  /**
   * Apply an operator command: decide from the recorded state, commit, answer.
   * Refusals and repeats write nothing.
   */
  async command(
    runId: string,
    causationId: string,
    decide: (state: RunState) => CommandVerdict,
  ): Promise<RunCommandReply> {
    const streamId = streamIds.run(runId);
    for (let conflicts = 0; ; conflicts++) {
      let entry = await this.load(streamId);
      let verdict = decide(entry.state);
      if (verdict.kind === 'refused' || verdict.events.length === 0) {
        // Refusing or ignoring on a cached state that may be behind the stream (another
        // replica wrote it): decide once more from the stream itself.
        this.deps.cache.delete(streamId);
        entry = await this.load(streamId);
        verdict = decide(entry.state);
      }
      if (verdict.kind === 'refused')
        return { status: 'refused', code: verdict.code, message: verdict.message };
      if (verdict.events.length === 0)
        return { status: 'accepted', runStatus: entry.state.status, duplicate: true };
      const state = verdict.events.reduce(evolveRun, entry.state);
      try {
        const done = await commitStep(
          this.deps.pool,
          runAggregate,
          streamId,
          entry,
          verdict.events,
          {
            metadata: () => this.metadata(state, causationId),
            cache: this.deps.cache,
            batcher: this.deps.batcher,
            next: state,
          },
        );
        this.deps.publisher.publish(done.records);
        this.afterCommit(done.entry.state, verdict.events, undefined);
        return { status: 'accepted', runStatus: done.entry.state.status, duplicate: false };
      } catch (err) {
        if (!(err instanceof ConcurrencyError) || conflicts >= MAX_CONFLICT_RETRIES) throw err;
      }
    }
  }

  /**
   * Settle budget reservations no later reserve will carry (the run ended, or
   * it waits for a person or a final tool round), and report ended runs.
   * Settling is idempotent at the guard, so settling twice is harmless.
   */
  private afterCommit(after: RunState, events: RunEvent[], outcome: StepOutcome | undefined) {
    if (after.status === 'none') return;
    countCommitted(after, events);
    const ended = isFinal(after);
    const decided = outcome?.events.some((e) => e.type === 'ModelDecisionRecorded') ?? false;
    const last = after.history.findLast((h) => h.kind === 'decision');
    const settle = (reservationId: string, usage: Usage, model: string) =>
      void this.step.settle(after, reservationId, usage, model, ended);
    if (outcome?.reservation && (ended || (decided && !continues(after))))
      settle(outcome.reservation.id, outcome.reservation.usage(), outcome.reservation.model);
    else if (ended && last?.kind === 'decision') {
      settle(`${after.runId}:${last.step}`, last.stepUsage, last.model);
      // The run ended during a tool round that went on: release the next step's
      // reservation if it was asked ahead (the guard ignores an unknown one).
      if (roundContinues(last.decision))
        settle(`${after.runId}:${last.step + 1}`, NO_USAGE, last.model);
    }
    // The next step's reservation, asked while the tools run.
    if (!ended && decided && after.status === 'awaiting_tools' && !after.final)
      this.step.reserveAhead(after, after.pending.length);
    if (!ended) return;
    this.deps.onRunEnded?.(after, events);
    const failed = events.find((e) => e.type === 'RunFailed');
    // Escalation by dead letter: the delivery that drove the run goes to the DLQ with the reason.
    if (failed?.type === 'RunFailed' && failed.data.error.code === 'STRUCTURED_OUTPUT_INVALID')
      throw new TerminalError(failed.data.error.code, failed.data.error.message);
    // A deadline with nothing to return: the run is recorded timed out, and dead-lettered so
    // an operator sees it (redriving does nothing more: the run is final).
    const timedOut = events.find((e) => e.type === 'RunTimedOut');
    if (timedOut?.type === 'RunTimedOut')
      throw new TerminalError(
        'RUN_TIMED_OUT',
        `run ${after.runId} passed its deadline ${timedOut.data.deadlineAt} with nothing to return`,
      );
  }

  private load(streamId: string) {
    const { pool, cache, reader } = this.deps;
    return loadAggregate(pool, runAggregate, streamId, cache, reader);
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

const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0 };

/** A decision whose tool round leads to another model call (reserve-ahead may have asked for it). */
const roundContinues = (d: ModelDecision) => d.kind === 'tool_calls' && !d.final;

/** The run goes on to another model call after this round without anyone settling in between. */
const continues = (s: ActiveRunState) => s.status === 'awaiting_tools' && !s.final;

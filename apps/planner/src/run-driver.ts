import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { streamIds, type ErrorInfo, type RunEvent } from '@keel/contracts';
import { RetryableError } from '@keel/messaging';
import {
  buildTranscript,
  decideFailRun,
  decideModelDecision,
  nextAction,
  PROMPT_VERSION,
  type ActiveRunState,
  type RunState,
} from '@keel/run-domain';
import { loadAggregate, newEventMetadata, runStep } from '@keel/runtime';
import type { ToolRegistry } from '@keel/tools';
import type { BudgetClient } from './budget/budget-client';
import { toDecision } from './model/decision';
import { ModelCallError, type ModelClient, type ToolSpec } from './model/model-client';
import { runAggregate } from './run-aggregate';

/** Safety net against a bug looping forever inside one delivery; real limits are in the run. */
const MAX_ITERATIONS_PER_DELIVERY = 1000;

/**
 * Drives one run forward from whatever its stream says is pending: it calls the
 * model (budget reserved first) and records each decision, until the run must
 * wait for tools or is finished. Safe to call any number of times, from any
 * replica: every step is decided from the recorded state and appended with an
 * expected version, so a repeat or a concurrent drive records nothing twice.
 */
export class RunDriver {
  constructor(
    private readonly deps: {
      pool: Pool;
      model: ModelClient;
      budget: BudgetClient;
      tools: ToolRegistry;
      log: Logger;
      maxOutputTokens: number;
    },
  ) {}

  async drive(runId: string, causationId: string): Promise<RunState> {
    const streamId = streamIds.run(runId);
    for (let i = 0; i < MAX_ITERATIONS_PER_DELIVERY; i++) {
      const { state } = await loadAggregate(this.deps.pool, runAggregate, streamId);
      const action = nextAction(state);
      switch (action.kind) {
        case 'finished':
        case 'wait_for_tools':
          return state;
        case 'fail':
          if (state.status === 'none') return state;
          await this.record(state, causationId, (s) => decideFailRun(s, action.error));
          continue;
        case 'call_model':
          if (state.status === 'none') return state;
          await this.modelStep(state, action.step, causationId);
          continue;
        default: {
          const unreachable: never = action;
          return unreachable;
        }
      }
    }
    throw new Error(
      `run ${runId}: driver did not settle after ${MAX_ITERATIONS_PER_DELIVERY} iterations`,
    );
  }

  private async modelStep(state: ActiveRunState, step: number, causationId: string): Promise<void> {
    const { budget, model, tools, log } = this.deps;
    const messages = buildTranscript(state);
    const reservationId = `${state.runId}:${step}`;
    const estimate = Math.ceil(JSON.stringify(messages).length / 4) + this.deps.maxOutputTokens;
    const grant = await budget.reserve({
      runId: state.runId,
      tenant: state.tenant,
      reservationId,
      tokens: estimate,
      limitTokens: state.limits.maxTokens,
    });
    if (grant.status === 'exhausted') {
      await this.record(state, causationId, (s) =>
        decideFailRun(s, { code: 'BUDGET_EXHAUSTED', message: grant.reason, retryable: false }),
      );
      return;
    }
    let reply;
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
      const error: ErrorInfo =
        err instanceof ModelCallError
          ? { code: err.code, message: err.message, retryable: false }
          : { code: 'MODEL_ERROR', message: String(err), retryable: false };
      await this.record(state, causationId, (s) => decideFailRun(s, error));
      return;
    }
    let decision;
    try {
      decision = toDecision(reply.reply, state.runId, step);
    } catch (err) {
      const e = err as ModelCallError;
      await this.record(state, causationId, (s) =>
        decideFailRun(s, { code: e.code, message: e.message, retryable: false }),
      );
      return;
    }
    await Promise.all([
      budget.settle({
        runId: state.runId,
        tenant: state.tenant,
        reservationId,
        usage: reply.usage,
      }),
      this.record(state, causationId, (s) =>
        decideModelDecision(s, {
          step,
          decision,
          usage: reply.usage,
          model: reply.model,
          promptVersion: PROMPT_VERSION,
          latencyMs: Math.round(reply.latencyMs * 1000) / 1000,
          poolOf: (t) => tools.poolOf(t),
        }),
      ),
    ]);
  }

  private toolSpec(name: string): ToolSpec {
    const t = this.deps.tools.get(name);
    return { name, description: t.description, parameters: this.deps.tools.inputJsonSchema(name) };
  }

  private async record(
    state: ActiveRunState,
    causationId: string,
    decide: (s: RunState) => RunEvent[],
  ): Promise<void> {
    await runStep(this.deps.pool, runAggregate, {
      streamId: streamIds.run(state.runId),
      decide: (s) => ({ events: decide(s), result: undefined }),
      metadata: () =>
        newEventMetadata({
          runId: state.runId,
          tenant: state.tenant,
          causationId,
          producer: 'planner',
        }),
    });
  }
}

import type { Logger } from 'pino';
import {
  MODEL_BREAKER_OPEN,
  type ReserveBudgetRequest,
  type RunEvent,
  type Usage,
} from '@keel/contracts';
import { retryDecision } from '@keel/resilience';
import {
  buildTranscript,
  decideGrant,
  decideModelDecision,
  decideModelFailure,
  decideOutputRejected,
  evolveRun,
  historyJsonLength,
  modelOutputJsonSchema,
  parseModelOutput,
  PROMPT_VERSION,
  type ActiveRunState,
  type CallFacts,
} from '@keel/run-domain';
import type { ToolRegistry } from '@keel/tools';
import type { BudgetClient } from './budget/budget-client';
import type { ReservationsAhead } from './budget/reservations-ahead';
import { ModelCallError, type ModelReply, type ToolSpec } from './model/model-client';
import type { ModelRouter } from './model/model-router';
import type { DriverPolicy } from './run-driver';

/** What one model step produced: events to commit, and what to do after the commit. */
export interface StepOutcome {
  readonly stepNumber: number;
  readonly events: RunEvent[];
  /** Set when the step failed transiently: nak the delivery for this long, then try again. */
  readonly retryInMs?: number;
  /**
   * Spending is halted (the kill switch): no model call was made. The guard
   * has recorded the run as paused and resumes it (`SpendingResumed`) on release.
   */
  readonly paused?: true;
  /** The step's budget reservation and its actual usage so far. */
  readonly reservation?: {
    readonly id: string;
    /** The model the usage is priced by. */
    readonly model: string;
    readonly usage: () => Usage;
  };
}

const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0 };

/**
 * One logical model step: reserve budget (failing closed), pick a model
 * (primary or fallback by breaker), call it once, and turn the result into
 * events — a validated decision, a rejected output to re-prompt, or a failed
 * attempt with its retry delay. Everything that happened is an event.
 */
export class ModelStep {
  private readonly responseSchema = modelOutputJsonSchema();

  constructor(
    private readonly deps: {
      readonly router: ModelRouter;
      readonly budget: BudgetClient;
      /** Reservations asked for ahead of their step (absent: reserve-ahead is off). */
      readonly ahead?: ReservationsAhead;
      readonly tools: ToolRegistry;
      readonly log: Logger;
      readonly policy: DriverPolicy;
    },
  ) {}

  async run(state: ActiveRunState, step: number, synthesis: boolean): Promise<StepOutcome> {
    const { budget, router, policy, log } = this.deps;
    const reservationId = `${state.runId}:${step}`;
    const plannedModel = router.modelFor(synthesis ? 'synthesis' : 'reasoning');
    const request = this.reserveRequest(state, step, plannedModel, 0);
    const grant = (await this.deps.ahead?.take(request)) ?? (await budget.reserve(request));
    if (grant.status === 'halted') {
      // The kill switch: no half-done step. The guard recorded the run as paused and
      // resumes it on release; until then no delivery waits in a redelivery loop.
      log.warn({ step, since: grant.since }, 'spending halted; the run is paused');
      return { stepNumber: step, events: [], paused: true };
    }
    const base = {
      stepNumber: step,
      reservation: { id: reservationId, model: plannedModel, usage: () => NO_USAGE },
    };
    // What the grant means for the run is a pure decision (shared with `keel replay --check`).
    const granted = decideGrant(
      state,
      step,
      grant.status === 'exhausted'
        ? {
            status: 'exhausted',
            reason: { code: 'BUDGET_EXHAUSTED', message: grant.reason, retryable: false },
          }
        : { status: 'granted', warning: grant.status === 'granted' && grant.warning },
    );
    if (grant.status === 'exhausted') return { ...base, events: granted };

    const events: RunEvent[] = [...granted];
    const s = granted.reduce(evolveRun, state) as ActiveRunState;
    if (granted.some((e) => e.type === 'SynthesisStarted')) synthesis = true;
    const role = synthesis ? 'synthesis' : 'reasoning';
    const attempt = s.attempts.failures + s.attempts.rejected.length + 1;
    const retryOf = (retryAfterMs?: number) =>
      retryDecision(s.attempts.failures + 1, policy.retry, {
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    const outcome = (more: RunEvent[]): StepOutcome => {
      const all = [...events, ...more];
      const failed = more.find((e) => e.type === 'ModelCallFailed');
      const retryInMs = failed?.type === 'ModelCallFailed' ? failed.data.retryInMs : null;
      const decided = more.find((e) => e.type === 'ModelDecisionRecorded');
      const answeredBy = () =>
        decided?.type === 'ModelDecisionRecorded' ? decided.data.model : plannedModel;
      const stepUsage = () => {
        const after = all.reduce(evolveRun, state as never) as ActiveRunState;
        const d = after.history.findLast((h) => h.kind === 'decision');
        return decided && d?.kind === 'decision' ? d.stepUsage : NO_USAGE;
      };
      return {
        ...base,
        events: all,
        ...(retryInMs !== null && retryInMs !== undefined ? { retryInMs } : {}),
        reservation: { id: reservationId, model: answeredBy(), usage: stepUsage },
      };
    };

    const pick = router.pick(role);
    if (!pick.ok) {
      const facts: CallFacts = {
        step,
        attempt,
        role,
        provider: pick.provider,
        model: pick.model,
        latencyMs: 0,
      };
      return outcome(
        decideModelFailure(s, {
          ...facts,
          code: MODEL_BREAKER_OPEN,
          errorClass: 'transient',
          message: `circuit breaker of provider ${pick.provider} is open`,
          retryAfterMs: pick.retryInMs,
          retry: retryOf(pick.retryInMs),
        }),
      );
    }

    const { client, toolMode, breaker } = pick.target;
    const tools = synthesis ? [] : this.toolSpecs(s.tools);
    const messages = buildTranscript(s, {
      mode: toolMode,
      tools,
      contextTokens: policy.contextTokens - policy.maxOutputTokens,
    });
    const started = performance.now();
    const facts = (latencyMs: number): CallFacts => ({
      step,
      attempt,
      role,
      provider: client.provider,
      model: client.model,
      latencyMs: Math.round(latencyMs * 1000) / 1000,
    });
    let reply: ModelReply;
    try {
      reply = await client.complete({
        messages,
        tools,
        maxOutputTokens: policy.maxOutputTokens,
        idempotencyKey: reservationId,
        mode: toolMode,
        ...(toolMode === 'json' ? { responseSchema: this.responseSchema } : {}),
      });
    } catch (err) {
      const e =
        err instanceof ModelCallError
          ? err
          : new ModelCallError('MODEL_ERROR', String(err), 'transient', { cause: err });
      if (e.errorClass === 'transient') breaker.recordFailure(e.code);
      if (e.errorClass === 'quota')
        log.error(
          { alert: true, provider: client.provider, model: client.model, code: e.code },
          'model provider quota or billing exhausted: runs on it stop until an operator acts',
        );
      else
        log.warn(
          { provider: client.provider, code: e.code, status: e.status, step, attempt },
          'model call failed',
        );
      return outcome(
        decideModelFailure(s, {
          ...facts(performance.now() - started),
          code: e.code,
          errorClass: e.errorClass,
          message: e.message.slice(0, 2000),
          ...(e.status !== undefined ? { status: e.status } : {}),
          ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
          retry: retryOf(e.retryAfterMs),
        }),
      );
    }
    breaker.recordSuccess();

    const parsed = parseModelOutput(reply.reply, {
      runId: s.runId,
      step,
      allowedTools: s.tools,
      synthesis,
    });
    if (!parsed.ok) {
      log.warn({ step, attempt, issues: parsed.issues.length }, 'model output failed validation');
      return outcome(
        decideOutputRejected(s, {
          ...facts(reply.latencyMs),
          model: reply.model,
          issues: parsed.issues,
          output: parsed.output,
          usage: reply.usage,
          maxInvalidOutputs: policy.maxInvalidOutputs,
          escalation: policy.invalidOutputEscalation,
        }),
      );
    }
    return outcome(
      decideModelDecision(s, {
        ...facts(reply.latencyMs),
        model: reply.model,
        decision: parsed.decision,
        usage: reply.usage,
        promptVersion: PROMPT_VERSION,
        toolVersions: this.deps.tools.versions(tools.map((t) => t.name)),
        review: policy.review,
        poolOf: (t) => this.deps.tools.poolOf(t),
      }),
    );
  }

  /**
   * Ask now for the next step's reservation (the run waits for a non-final
   * tool round): the estimate allows `reserveAheadTokensPerTool` for each
   * pending call's result, which the transcript does not hold yet.
   */
  reserveAhead(state: ActiveRunState, pendingCalls: number): void {
    const perTool = this.deps.policy.reserveAheadTokensPerTool;
    if (!this.deps.ahead || perTool <= 0) return;
    const step = state.step + 1;
    const model = this.deps.router.modelFor('reasoning');
    this.deps.ahead.ask(this.reserveRequest(state, step, model, perTool * pendingCalls));
  }

  /** The reservation for `step`, settling the step before it (estimates; the guard settles actual usage). */
  private reserveRequest(
    state: ActiveRunState,
    step: number,
    model: string,
    extraInputTokens: number,
  ): ReserveBudgetRequest {
    const { policy } = this.deps;
    const previous = state.history.findLast((h) => h.kind === 'decision');
    const { limits } = state;
    return {
      runId: state.runId,
      tenant: state.tenant,
      reservationId: `${state.runId}:${step}`,
      model,
      inputTokens: Math.min(
        policy.contextTokens,
        Math.ceil((state.prompt.length + historyJsonLength(state.history)) / 4) + extraInputTokens,
      ),
      outputTokens: policy.maxOutputTokens,
      limitTokens: limits.maxTokens,
      ...(limits.maxInputTokens !== undefined ? { limitInputTokens: limits.maxInputTokens } : {}),
      ...(limits.maxOutputTokens !== undefined
        ? { limitOutputTokens: limits.maxOutputTokens }
        : {}),
      ...(limits.maxCostUsd !== undefined ? { limitCostUsd: limits.maxCostUsd } : {}),
      // The first step arms the run's deadline timer in the guard.
      ...(state.step === 0 ? { deadlineAt: limits.deadlineAt } : {}),
      ...(previous?.kind === 'decision'
        ? {
            settle: {
              reservationId: `${state.runId}:${previous.step}`,
              usage: previous.stepUsage,
              model: previous.model,
            },
          }
        : {}),
    };
  }

  /** Settle a reservation on its own (no later reserve will carry it); `final` disarms the deadline. */
  settle(
    state: ActiveRunState,
    reservationId: string,
    usage: Usage,
    model: string,
    final: boolean,
  ): Promise<void> {
    return this.deps.budget
      .settle({ runId: state.runId, tenant: state.tenant, reservationId, usage, model, final })
      .catch((err: unknown) =>
        this.deps.log.warn(
          { err: String(err) },
          'budget settle failed; the guard keeps the reservation',
        ),
      );
  }

  private toolSpecs(names: readonly string[]): ToolSpec[] {
    const { tools } = this.deps;
    return names
      .filter((n) => tools.has(n))
      .map((n) => ({
        name: n,
        description: tools.get(n).description,
        parameters: tools.inputJsonSchema(n),
      }));
  }
}

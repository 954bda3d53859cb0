import type { Logger } from 'pino';
import type { Pool } from 'pg';
import { RelayedEvent, streamIds, type CompensationEvent, type ErrorInfo } from '@keel/contracts';
import { ConcurrencyError } from '@keel/event-store';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  parseJson,
  RetryableError,
  TerminalError,
  type Disposition,
  type InboundMessage,
} from '@keel/messaging';
import { retryDecision } from '@keel/resilience';
import {
  commitStep,
  loadAggregate,
  newEventMetadata,
  type AggregateSpec,
  type FastPublisher,
} from '@keel/runtime';
import { withLogContext } from '@keel/telemetry';
import type { ToolRegistry } from '@keel/tools';
import type { PoolResourceSet } from '../call/pool-resources';
import type { RunLookups } from '../call/run-lookups';
import { attemptTool } from '../execute-tool';
import { evolveSaga, initialSagaState, type SagaState } from './saga-state';

const sagaAggregate: AggregateSpec<SagaState, CompensationEvent> = {
  initial: initialSagaState,
  evolve: evolveSaga,
};

/** Attempts per compensation before it is given up and dead-lettered. */
const COMPENSATION_RETRY = { maxAttempts: 3, baseMs: 200, capMs: 2_000, maxRetryAfterMs: 5_000 };

export interface SagaDeps {
  readonly pool: Pool;
  readonly tools: ToolRegistry;
  readonly lookups: RunLookups;
  readonly resources: PoolResourceSet;
  readonly publisher: FastPublisher;
  readonly log: Logger;
}

/**
 * The saga: when a run ends failed, cancelled or timed out, the side effects
 * its completed calls had are undone — each call whose tool names a
 * compensating tool, newest first. Each compensation is itself idempotent
 * (key `compensate:<callId>`) and recorded on `compensation:<runId>`; a
 * redelivery resumes where the stream says. A compensation that keeps failing
 * is recorded and, once the others have run, the triggering event is
 * dead-lettered with the failures as its reason.
 */
export function compensationHandler(deps: SagaDeps) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    const runId = relayed.metadata.correlationId;
    const tenant = relayed.metadata.tenant;
    const streamId = streamIds.compensation(runId);
    return withLogContext({ runId }, async () => {
      let entry = await loadAggregate(deps.pool, sagaAggregate, streamId);
      if (entry.state.finished) return { kind: 'ack' };
      const append = async (events: CompensationEvent[]) => {
        try {
          const metadata = () =>
            newEventMetadata({
              runId,
              tenant,
              causationId: relayed.metadata.eventId,
              producer: 'tool-executor',
            });
          const done = await commitStep(deps.pool, sagaAggregate, streamId, entry, events, {
            metadata,
          });
          deps.publisher.publish(done.records);
          entry = done.entry;
        } catch (err) {
          if (!(err instanceof ConcurrencyError)) throw err;
          throw new RetryableError('saga recorded concurrently', { retryAfterMs: 100 });
        }
      };

      const calls = await deps.lookups.completedCalls(runId);
      if (!entry.state.started) {
        const steps = calls
          .flatMap((c) => {
            const comp = deps.tools.has(c.tool) ? deps.tools.get(c.tool).compensation : undefined;
            return comp ? [{ callId: c.callId, tool: c.tool, compensatingTool: comp.tool }] : [];
          })
          .reverse();
        if (steps.length === 0) return { kind: 'ack' }; // nothing to undo; record nothing
        await append([
          { type: 'CompensationStarted', data: { runId, trigger: relayed.type, steps } },
        ]);
      }

      const failures: string[] = [];
      for (const step of entry.state.steps) {
        if (entry.state.settled.has(step.callId)) continue;
        const call = calls.find((c) => c.callId === step.callId);
        const outcome = call
          ? await compensate(deps, step, call, runId, tenant)
          : {
              ok: false as const,
              attempts: 1,
              error: {
                code: 'CALL_NOT_FOUND',
                message: 'the call is not in the log',
                retryable: false,
              },
            };
        if (outcome.ok) {
          await append([
            {
              type: 'CompensationSucceeded',
              data: { ...step, runId, attempts: outcome.attempts, output: outcome.output },
            },
          ]);
        } else {
          deps.log.error(
            { callId: step.callId, tool: step.compensatingTool, code: outcome.error.code },
            'compensation failed',
          );
          failures.push(`${step.compensatingTool} for ${step.callId}: ${outcome.error.code}`);
          await append([
            {
              type: 'CompensationFailed',
              data: { ...step, runId, attempts: outcome.attempts, error: outcome.error },
            },
          ]);
        }
      }
      const failed = entry.state.failed;
      await append([
        {
          type: 'CompensationFinished',
          data: { runId, succeeded: entry.state.steps.length - failed, failed },
        },
      ]);
      if (failed > 0) {
        throw new TerminalError(
          'COMPENSATION_FAILED',
          `${failed} compensation(s) failed for run ${runId}${failures.length ? `: ${failures.join('; ')}` : ''}`,
        );
      }
      return { kind: 'ack' };
    });
  };
}

async function compensate(
  deps: SagaDeps,
  step: { callId: string; tool: string; compensatingTool: string },
  call: { input: Record<string, unknown>; output: Record<string, unknown> },
  runId: string,
  tenant: string,
): Promise<
  | { ok: true; attempts: number; output: Record<string, unknown> }
  | { ok: false; attempts: number; error: ErrorInfo }
> {
  const original = deps.tools.get(step.tool);
  if (!deps.tools.has(step.compensatingTool)) {
    return {
      ok: false,
      attempts: 1,
      error: {
        code: 'UNKNOWN_TOOL',
        message: `no tool '${step.compensatingTool}'`,
        retryable: false,
      },
    };
  }
  const tool = deps.tools.get(step.compensatingTool);
  const rawInput = original.compensation!.input(call.input, call.output);
  const input = tool.input.safeParse(rawInput);
  if (!input.success) {
    return {
      ok: false,
      attempts: 1,
      error: {
        code: 'INVALID_INPUT',
        message: input.error.message.slice(0, 2000),
        retryable: false,
      },
    };
  }
  const idempotencyKey = `compensate:${step.callId}`;
  for (let attempt = 1; ; attempt++) {
    const result = await attemptTool(
      tool,
      input.data,
      { idempotencyKey, runId, tenant, attempt, resources: deps.resources.of(tool.pool) },
      () => {
        throw new Error('compensating tools may not request deliveries');
      },
    );
    if (result.ok) return { ok: true, attempts: attempt, output: result.output };
    const e = result.error;
    const retryable = e.errorClass === 'transient' || e.errorClass === 'rate_limited';
    const next = retryable
      ? retryDecision(
          attempt,
          COMPENSATION_RETRY,
          e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {},
        )
      : ({ retry: false } as const);
    if (!next.retry)
      return {
        ok: false,
        attempts: attempt,
        error: { code: e.code, message: e.message.slice(0, 2000), retryable },
      };
    await sleep(next.delayMs);
  }
}

import { trace } from '@opentelemetry/api';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import {
  fleetBreakerName,
  deliveryIdFor,
  RelayedEvent,
  streamIds,
  upcastEvent,
  type ErrorInfo,
  type ToolCallEvent,
} from '@keel/contracts';
import {
  parseJson,
  RetryableError,
  TerminalError,
  type Disposition,
  type InboundMessage,
} from '@keel/messaging';
import { retryDecision, type BreakerTransition, type FleetBreakerView } from '@keel/resilience';
import {
  loadAggregate,
  type AppendBatcher,
  type FastPublisher,
  type ReadBatcher,
} from '@keel/runtime';
import { KeelAttr, withLogContext } from '@keel/telemetry';
import { SideEffect, type ToolDefinition, type ToolError, type ToolRegistry } from '@keel/tools';
import type { CapabilityCache } from './capability-cache';
import { callAggregate } from './call/call-aggregate';
import { isRetryableClass } from './call/classify-tool-error';
import { inputHash } from './call/input-hash';
import type { PoolResourceSet } from './call/pool-resources';
import { CallRecorder } from './call/record-call';
import type { RunLookups } from './call/run-lookups';
import type { ToolBreakers } from './call/tool-breakers';
import { attemptTool, summarise } from './execute-tool';

export interface ToolCallDeps {
  readonly pool: Pool;
  readonly tools: ToolRegistry;
  readonly log: Logger;
  readonly capabilities: CapabilityCache;
  readonly publisher: FastPublisher;
  /** Outcomes that complete together are written in one statement. */
  readonly batcher: AppendBatcher;
  /** Calls' streams read together (redeliveries, write tools) share one statement. */
  readonly reader: ReadBatcher;
  readonly resources: PoolResourceSet;
  readonly breakers: ToolBreakers;
  /** Fleet-wide breakers published by the budget guard (docs/design/fleet-breakers.md). */
  readonly fleet: FleetBreakerView;
  readonly lookups: RunLookups;
  /** Retries all tool calls of one run may have together (stops retry storms). */
  readonly runRetryBudget: number;
  /** A Retry-After longer than this is not waited for: the call fails. */
  readonly maxRetryAfterMs: number;
}

const DEFAULT_RETRY = { maxAttempts: 3, baseMs: 200, capMs: 5_000 };

/**
 * Runs one requested tool call. The call's own stream (`toolcall:<callId>`)
 * is its record: failed attempts (with their retry delay), breaker
 * transitions, and exactly one outcome, each appended at the stream's
 * version, so a redelivery or a second replica can never record twice.
 *
 * Order of checks: the run's capability (the runtime authorises, never the
 * model), the input's schema, the run's cache (cacheable read tools), the
 * tool's circuit breaker (open → fail fast), then one attempt under the
 * tool's timeout. A transient failure with attempts and run budget left is
 * recorded and the delivery nak'ed with the backoff delay (durable retries);
 * anything else ends the call. External tools' delivery requests are
 * recorded in the same transaction as the call's outcome.
 */
export function toolCallHandler(deps: ToolCallDeps) {
  const recorder = new CallRecorder(deps.pool, deps.batcher, deps.publisher);
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    const event = upcastEvent(relayed.type, relayed.schemaVersion, relayed.data);
    if (event.type !== 'ToolCallRequested') {
      throw new TerminalError('UNEXPECTED_EVENT', `tool pool received ${event.type}`);
    }
    const runId = relayed.metadata.correlationId;
    const tenant = relayed.metadata.tenant;
    const { callId, tool, step, input, idempotencyKey } = event.data;
    const streamId = streamIds.toolCall(callId);
    trace.getActiveSpan()?.setAttributes({
      [KeelAttr.runId]: runId,
      [KeelAttr.toolName]: tool,
      [KeelAttr.step]: step,
    });
    return withLogContext({ runId, step }, async () => {
      const def = deps.tools.has(tool) ? deps.tools.get(tool) : undefined;
      // A read-only tool's first delivery skips the stream read: running it twice is
      // harmless, and a second outcome is refused by the append's expected version.
      const fresh = msg.deliveries === 1 && def?.sideEffect === SideEffect.Read;
      const entry = fresh
        ? { state: callAggregate.initial(), version: 0 }
        : await loadAggregate(deps.pool, callAggregate, streamId, undefined, deps.reader);
      if (entry.state.done) return { kind: 'ack' };

      const common = { runId, callId, step, tool };
      const record = (
        events: ToolCallEvent[],
        deliveries?: Parameters<CallRecorder['record']>[3],
      ) =>
        recorder.record(
          {
            streamId,
            version: entry.version,
            runId,
            tenant,
            causationId: relayed.metadata.eventId,
          },
          events,
          deps.log,
          deliveries,
        );
      const fail = (error: ErrorInfo, errorClass: ToolError['errorClass'], attempts: number) =>
        ({ type: 'ToolCallFailed', data: { ...common, error, attempts, errorClass } }) as const;
      const breakerEvents = (ts: BreakerTransition[]): ToolCallEvent[] =>
        ts.map((t) => ({
          type: 'ToolBreakerTransitioned',
          data: {
            ...common,
            breaker: t.name,
            from: t.from,
            to: t.to,
            reason: t.reason.slice(0, 500),
          },
        }));

      const refusal = await authorise(deps, runId, tool);
      if (refusal || !def) {
        const error = refusal ?? { code: 'UNKNOWN_TOOL', message: tool, retryable: false };
        deps.log.warn({ tool, code: error.code }, 'tool call rejected');
        await record([{ type: 'ToolCallRejected', data: { ...common, error } }]);
        return { kind: 'ack' };
      }
      const parsed = def.input.safeParse(input);
      if (!parsed.success) {
        const error = {
          code: 'INVALID_INPUT',
          message: summarise(parsed.error.issues),
          retryable: false,
        };
        await record([{ type: 'ToolCallRejected', data: { ...common, error } }]);
        return { kind: 'ack' };
      }
      const hash = inputHash(parsed.data);
      if (def.cacheable && def.sideEffect === SideEffect.Read) {
        const hit = await deps.lookups.cachedOutput(runId, tool, hash);
        if (hit) {
          await record([
            {
              type: 'ToolCallSucceeded',
              data: {
                ...common,
                output: hit.output,
                attempts: 0,
                durationMs: 0,
                inputHash: hash,
                cachedFrom: hit.callId,
              },
            },
          ]);
          return { kind: 'ack' };
        }
      }

      const breaker = deps.breakers.get(
        typeof def.breakerKey === 'function'
          ? def.breakerKey(parsed.data)
          : (def.breakerKey ?? def.name),
      );
      // The fleet's verdict (every replica's outcomes, via the guard) first, then our own.
      const fleet = deps.fleet.check(fleetBreakerName.tool(breaker.name));
      const check = fleet.allowed
        ? deps.breakers.observe(() => breaker.check())
        : { value: fleet, transitions: [] };
      const attempt = entry.state.failedAttempts + 1;
      if (!check.value.allowed) {
        // Fail fast: the planner (and the model) learn at once that this dependency is down.
        const where = fleet.allowed ? '' : ' across the fleet';
        const error = {
          code: 'TOOL_CIRCUIT_OPEN',
          message: `${breaker.name} is failing${where}; calls are paused for ${Math.ceil(check.value.retryInMs / 1000)} s`,
          retryable: true,
        };
        await record([
          ...breakerEvents(check.transitions),
          fail(error, 'transient', attempt - 1 || 1),
        ]);
        return { kind: 'ack' };
      }

      const result = await attemptTool(
        def,
        parsed.data,
        { idempotencyKey, runId, tenant, attempt, resources: deps.resources.of(def.pool) },
        (i) => deliveryIdFor(idempotencyKey, i),
      );
      if (result.ok) {
        const done = deps.breakers.observe(() => breaker.recordSuccess());
        const deliveryIds = result.deliveries.map((_, i) => deliveryIdFor(idempotencyKey, i));
        await record(
          [
            ...breakerEvents([...check.transitions, ...done.transitions]),
            {
              type: 'ToolCallSucceeded',
              data: {
                ...common,
                output: result.output,
                attempts: attempt,
                durationMs: result.durationMs,
                inputHash: hash,
                breaker: breaker.name,
                ...(deliveryIds.length > 0 ? { deliveryIds } : {}),
              },
            },
          ],
          result.deliveries.map((d, i) => ({
            ...d,
            deliveryId: deliveryIds[i]!,
            idempotencyKey,
            callId,
          })),
        );
        return { kind: 'ack' };
      }

      const err = result.error;
      const retryable = isRetryableClass(err);
      const failed = retryable
        ? deps.breakers.observe(() => breaker.recordFailure(err.code))
        : { transitions: [] };
      const decision = retryable
        ? await retryOf(deps, def, attempt, runId, err.retryAfterMs)
        : ({ retry: false, reason: `${err.errorClass} errors are not retried` } as const);
      const error = { code: err.code, message: err.message.slice(0, 2000), retryable };
      const attemptFailed: ToolCallEvent = {
        type: 'ToolCallAttemptFailed',
        data: {
          ...common,
          attempt,
          error,
          errorClass: err.errorClass,
          retryInMs: decision.retry ? decision.delayMs : null,
          ...(retryable ? { breaker: breaker.name } : {}),
        },
      };
      const transitions = breakerEvents([...check.transitions, ...failed.transitions]);
      deps.log.warn(
        { tool, code: err.code, errorClass: err.errorClass, attempt, retry: decision.retry },
        'tool attempt failed',
      );
      if (decision.retry) {
        await record([...transitions, attemptFailed]);
        throw new RetryableError(`${tool} attempt ${attempt} failed; retrying`, {
          retryAfterMs: decision.delayMs,
        });
      }
      await record([...transitions, attemptFailed, fail(error, err.errorClass, attempt)]);
      return { kind: 'ack' };
    });
  };
}

/** Retry per the tool's policy, honouring Retry-After, within the run's retry budget. */
async function retryOf(
  deps: ToolCallDeps,
  def: ToolDefinition,
  attempt: number,
  runId: string,
  retryAfterMs: number | undefined,
) {
  const policy =
    def.retry ??
    (def.sideEffect === SideEffect.External ? { ...DEFAULT_RETRY, maxAttempts: 1 } : DEFAULT_RETRY);
  const decision = retryDecision(
    attempt,
    { ...policy, maxRetryAfterMs: deps.maxRetryAfterMs },
    retryAfterMs !== undefined ? { retryAfterMs } : {},
  );
  if (!decision.retry) return decision;
  if ((await deps.lookups.retriesUsed(runId)) >= deps.runRetryBudget)
    return {
      retry: false,
      reason: `the run's retry budget (${deps.runRetryBudget}) is spent`,
    } as const;
  return decision;
}

async function authorise(
  deps: ToolCallDeps,
  runId: string,
  tool: string,
): Promise<ErrorInfo | undefined> {
  const allowed = await deps.capabilities.toolsOf(runId);
  if (!allowed)
    return {
      code: 'RUN_UNKNOWN',
      message: `no run ${runId} to authorise against`,
      retryable: false,
    };
  if (!allowed.has(tool))
    return {
      code: 'NOT_PERMITTED',
      message: `tool '${tool}' is outside this run's capability`,
      retryable: false,
    };
  if (!deps.tools.has(tool))
    return {
      code: 'UNKNOWN_TOOL',
      message: `no tool named '${tool}' is registered`,
      retryable: false,
    };
  return undefined;
}

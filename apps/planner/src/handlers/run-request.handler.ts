import type { Pool } from 'pg';
import { trace } from '@opentelemetry/api';
import {
  MAX_RUN_REQUEST_BYTES,
  RunRequest,
  runIdFor,
  streamIds,
  type KeelNames,
} from '@keel/contracts';
import { parseJson, type Disposition, type InboundMessage } from '@keel/messaging';
import { decideStartRun, type RunDefaults } from '@keel/run-domain';
import { newEventMetadata, runStep } from '@keel/runtime';
import { withLogContext } from '@keel/telemetry';
import { runAggregate } from '../run-aggregate';
import type { RunDriver } from '../run-driver';

/**
 * Ingress: a run request from an upstream system. The run id is derived from
 * (tenant, requestId), so a duplicate request finds the run already opened and
 * starts nothing new. Bad JSON, a schema violation or an oversize payload is
 * dead-lettered by the consume loop with its reason.
 */
export function runRequestHandler(deps: {
  pool: Pool;
  names: KeelNames;
  driver: RunDriver;
  defaults: RunDefaults;
}) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const request = parseJson(msg, RunRequest);
    const runId = runIdFor(request.tenant, request.requestId);
    trace.getActiveSpan()?.setAttributes({ 'keel.run.id': runId, 'keel.tenant': request.tenant });
    return withLogContext({ runId }, async () => {
      const causationId = msg.msgId ?? `${deps.names.streams.ingress}:${msg.streamSequence}`;
      await runStep(deps.pool, runAggregate, {
        streamId: streamIds.run(runId),
        decide: (s) => ({
          events: decideStartRun(s, { request, runId, now: new Date(), defaults: deps.defaults }),
          result: undefined,
        }),
        metadata: () =>
          newEventMetadata({ runId, tenant: request.tenant, causationId, producer: 'planner' }),
      });
      await deps.driver.drive(runId, causationId);
      return { kind: 'ack' };
    });
  };
}

export const RUN_REQUEST_MAX_BYTES = MAX_RUN_REQUEST_BYTES;

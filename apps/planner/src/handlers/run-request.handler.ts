import { trace } from '@opentelemetry/api';
import { RunRequest, runIdFor, type KeelNames } from '@keel/contracts';
import { parseJson, type Disposition, type InboundMessage } from '@keel/messaging';
import { decideStartRun, type RunDefaults } from '@keel/run-domain';
import { KeelAttr, withLogContext } from '@keel/telemetry';
import type { RunDriver } from '../run-driver';

/**
 * Ingress: a run request from an upstream system. The run id is derived from
 * (tenant, requestId), so a duplicate request finds the run already opened and
 * starts nothing new. `RunRequested` is committed together with the first
 * decision. Bad JSON, a schema violation or an oversize payload is
 * dead-lettered by the consume loop with its reason.
 */
export function runRequestHandler(deps: {
  names: KeelNames;
  driver: RunDriver;
  defaults: RunDefaults;
}) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const request = parseJson(msg, RunRequest);
    const runId = runIdFor(request.tenant, request.requestId);
    trace
      .getActiveSpan()
      ?.setAttributes({ [KeelAttr.runId]: runId, [KeelAttr.tenant]: request.tenant });
    return withLogContext({ runId }, async () => {
      const messageId = msg.msgId ?? `${deps.names.streams.ingress}:${msg.streamSequence}`;
      await deps.driver.drive(runId, messageId, {
        decide: (s) =>
          decideStartRun(s, { request, runId, now: new Date(), defaults: deps.defaults }),
        inbox: { consumer: deps.names.consumers.plannerIngress, messageId },
      });
      return { kind: 'ack' };
    });
  };
}

import { JSONCodec, type NatsConnection } from 'nats';
import { runIdFor, type KeelNames, type RunRequestInput } from '@keel/contracts';

/** The events that end a run. */
export const RUN_ENDINGS: ReadonlySet<string> = new Set([
  'RunCompleted',
  'RunFailed',
  'RunDegraded',
  'RunCancelled',
  'RunTimedOut',
]);

const json = JSONCodec();

/**
 * Publish a run request the way an upstream system does: JetStream, on the
 * ingress subject, `Nats-Msg-Id` = request id (a repeat within the duplicate
 * window is dropped by JetStream). Returns the run id the planner derives.
 */
export async function publishRunRequest(
  nc: NatsConnection,
  names: KeelNames,
  request: RunRequestInput,
): Promise<{ runId: string; duplicate: boolean }> {
  const ack = await nc
    .jetstream()
    .publish(names.subjects.runRequest.build(), json.encode(request), {
      msgID: request.requestId,
    });
  return { runId: runIdFor(request.tenant, request.requestId), duplicate: ack.duplicate };
}

import { JSONCodec } from 'nats';
import type { Pool } from 'pg';
import {
  RunCommandReply,
  runIdFor,
  streamIds,
  uuidv7,
  type RunRequestInput,
} from '@keel/contracts';
import { requestJson } from '@keel/messaging';
import {
  messageText,
  waitFor,
  type ChatCompletionRequest,
  type ModelScript,
  type RecordedRequest,
  type ScriptedModel,
  type ScriptedReply,
} from '@keel/testing';
import type { KeelStack } from './stack';

/**
 * Many behaviours of the scripted model in one server: each run's prompt starts
 * with `scenario:<name>`, and the reply comes from that scenario's script with
 * the index of the request *within the scenario*. Tests then look at their own
 * scenario's requests only.
 */
export type ScenarioScript = (
  request: ChatCompletionRequest,
  index: number,
) => ScriptedReply | Promise<ScriptedReply>;

export class Scenarios {
  private readonly scripts = new Map<string, ScenarioScript>();
  private readonly counts = new Map<string, number>();

  readonly script: ModelScript = (request) => {
    const name = scenarioOf(request);
    const script = name ? this.scripts.get(name) : undefined;
    if (!name || !script) throw new Error(`no scenario for prompt (${name ?? 'untagged'})`);
    const index = this.counts.get(name) ?? 0;
    this.counts.set(name, index + 1);
    return script(request, index);
  };

  add(name: string, script: ScenarioScript): string {
    this.scripts.set(name, script);
    return name;
  }
}

const json = JSONCodec();

export function scenarioOf(request: ChatCompletionRequest): string | undefined {
  const user = request.messages.find((m) => m.role === 'user');
  const text = typeof user?.content === 'string' ? user.content : '';
  return /^scenario:([\w-]+)/.exec(text)?.[1];
}

/** The model requests one scenario made, in arrival order. */
export const requestsOf = (model: ScriptedModel, name: string): RecordedRequest[] =>
  model.requests.filter((r) => scenarioOf(r.body) === name);

export interface SubmittedRun {
  readonly runId: string;
  readonly request: RunRequestInput;
}

/** Publish a run request through the NATS ingress, as an upstream system does. */
export async function submitRun(
  stack: KeelStack,
  scenario: string,
  over: Partial<RunRequestInput> & { prompt?: string } = {},
): Promise<SubmittedRun> {
  const { prompt, ...rest } = over;
  const request: RunRequestInput = {
    requestId: `req-${uuidv7()}`,
    tenant: 'acme',
    input: { prompt: `scenario:${scenario}\n${prompt ?? 'What is 6 * 7?'}` },
    tools: ['calculator'],
    ...rest,
  };
  await stack.js.publish(stack.names.subjects.runRequest.build(), json.encode(request), {
    msgID: request.requestId,
  });
  return { runId: runIdFor(request.tenant, request.requestId), request };
}

export interface StoredEvent {
  type: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

export async function runEvents(pool: Pool, runId: string): Promise<StoredEvent[]> {
  const { rows } = await pool.query<{
    type: string;
    data: Record<string, unknown>;
    created_at: Date;
  }>('SELECT type, data, created_at FROM events WHERE stream_id = $1 ORDER BY stream_version', [
    streamIds.run(runId),
  ]);
  return rows.map((r) => ({ type: r.type, data: r.data, createdAt: r.created_at }));
}

const STOPS = ['RunCompleted', 'RunFailed', 'RunDegraded', 'RunCancelled', 'RunTimedOut'];

/** Wait until the run's stream holds `type` (default: any ending); returns all its events. */
export async function waitForEvent(
  pool: Pool,
  runId: string,
  type?: string,
  timeoutMs = 30_000,
): Promise<StoredEvent[]> {
  let events: StoredEvent[] = [];
  await waitFor(
    async () => {
      events = await runEvents(pool, runId);
      return events.some((e) => (type ? e.type === type : STOPS.includes(e.type)));
    },
    { timeoutMs, description: `${type ?? 'an ending'} on run ${runId}` },
  );
  return events;
}

export const typesOf = (events: readonly StoredEvent[]) => events.map((e) => e.type);

/**
 * Wait until every budget reservation of the run is settled. A run's last
 * settle reaches the guard after the run's end is committed (the planner sends
 * it after its commit, and no consumer tracks it), so a test that needs all of
 * a run's events in the log waits for this after the run's end.
 */
export async function waitForBudgetSettled(
  pool: Pool,
  runId: string,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    async () => {
      const events = await eventsOfRun(pool, runId, 'budget');
      const ids = (type: string) =>
        new Set(events.filter((e) => e.type === type).map((e) => String(e.data['reservationId'])));
      const settled = ids('BudgetSettled');
      const reserved = ids('BudgetReserved');
      return reserved.size > 0 && [...reserved].every((id) => settled.has(id));
    },
    { timeoutMs, description: `every budget reservation of run ${runId} settled` },
  );
}

/** Send an operator command to the planner (review decision or cancel). */
export function command(
  stack: KeelStack,
  kind: 'review' | 'cancel',
  payload: Record<string, unknown>,
): Promise<RunCommandReply> {
  const subject =
    kind === 'review'
      ? stack.names.subjects.runReview.build()
      : stack.names.subjects.runCancel.build();
  return requestJson(stack.nc, subject, payload, { timeoutMs: 10_000, schema: RunCommandReply });
}

/** A message's text (the scripted model's own reading of it). */
export const textOf = messageText;

/** Events of every stream of `category` (e.g. `toolcall`, `compensation`) that belong to the run. */
export async function eventsOfRun(
  pool: Pool,
  runId: string,
  category: string,
): Promise<(StoredEvent & { streamId: string })[]> {
  const { rows } = await pool.query<{
    stream_id: string;
    type: string;
    data: Record<string, unknown>;
    created_at: Date;
  }>(
    `SELECT stream_id, type, data, created_at FROM events
      WHERE metadata->>'correlationId' = $1 AND stream_id LIKE $2 ORDER BY global_position`,
    [runId, `${category}:%`],
  );
  return rows.map((r) => ({
    streamId: r.stream_id,
    type: r.type,
    data: r.data,
    createdAt: r.created_at,
  }));
}

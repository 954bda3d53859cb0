/**
 * Every span, attribute and metric name Keel emits, defined once. Services use
 * these constants instead of string literals so dashboards and trace queries
 * keep working when code moves.
 *
 * Contract: prompts, completions, tool arguments and tool results are NEVER
 * span attributes (nor span events). They can hold customer data and secrets,
 * and traces leave the deployment's data boundary (sampled, exported to a
 * collector with its own retention). Spans carry ids, names, counts and
 * outcomes only; the content lives in the event log, behind its own access rules.
 */

/** Keel's own span attributes (namespace `keel.`). */
export const KeelAttr = {
  runId: 'keel.run.id',
  tenant: 'keel.tenant',
  /** The planner step number within the run. */
  step: 'keel.step',
  toolName: 'keel.tool.name',
  toolPool: 'keel.tool.pool',
  toolVersion: 'keel.tool.version',
  /** Delivery attempt of a message or retry attempt of a call, starting at 1. */
  attempt: 'keel.attempt',
  eventType: 'keel.event.type',
  streamId: 'keel.stream.id',
} as const;
export type KeelAttrName = (typeof KeelAttr)[keyof typeof KeelAttr];

/**
 * The OpenTelemetry GenAI semantic-convention names Keel sets on model-call
 * spans. Copied as strings rather than imported from the semconv package's
 * `incubating` entry point, which is not covered by its stability guarantee.
 * (Newer semconv versions add `gen_ai.provider.name` next to `gen_ai.system`.)
 */
export const GenAiAttr = {
  system: 'gen_ai.system',
  operationName: 'gen_ai.operation.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  usageInputTokens: 'gen_ai.usage.input_tokens',
  usageOutputTokens: 'gen_ai.usage.output_tokens',
  toolName: 'gen_ai.tool.name',
} as const;
export type GenAiAttrName = (typeof GenAiAttr)[keyof typeof GenAiAttr];

/** Values of `gen_ai.operation.name` that Keel uses. */
export const GenAiOperation = {
  chat: 'chat',
  executeTool: 'execute_tool',
} as const;
export type GenAiOperation = (typeof GenAiOperation)[keyof typeof GenAiOperation];

/** GenAI convention: a model-call span is named `<operation> <request model>`, e.g. `chat gpt-4o`. */
export function genAiSpanName(operation: GenAiOperation, requestModel: string): string {
  return `${operation} ${requestModel}`;
}

/** Names of the spans Keel's own code starts (instrumentations name theirs). */
export const KeelSpan = {
  /** Planner turns a run request into a run (or recognises a duplicate). */
  runAccept: 'keel.run.accept',
  /** One planner step: decide (model call) and record the decision. */
  plannerStep: 'keel.planner.step',
  /** A tool executor runs one tool call. */
  toolExecute: 'keel.tool.execute',
  budgetReserve: 'keel.budget.reserve',
  budgetSettle: 'keel.budget.settle',
  /** The outbox relay publishes a batch of committed events. */
  outboxRelay: 'keel.outbox.relay',
  /** Appending events to the log (one transaction). */
  eventAppend: 'keel.event.append',
} as const;
export type KeelSpanName = (typeof KeelSpan)[keyof typeof KeelSpan];

/**
 * Metric names (GenAI client conventions). No metric pipeline is configured by
 * `startTelemetry` yet; the names are fixed here so the first exporter added
 * does not invent its own.
 */
export const KeelMetric = {
  genAiTokenUsage: 'gen_ai.client.token.usage',
  genAiOperationDuration: 'gen_ai.client.operation.duration',
} as const;
export type KeelMetricName = (typeof KeelMetric)[keyof typeof KeelMetric];

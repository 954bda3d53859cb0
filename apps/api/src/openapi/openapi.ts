import { z } from 'zod';
import {
  CancelBody,
  CommandResponse,
  DiscardBody,
  DlqEntryView,
  DlqListQuery,
  ErrorBody,
  ListRunsQuery,
  RedriveBody,
  ReviewBody,
  RunPage,
  RunView,
  SubmitRunBody,
  SubmitRunResponse,
  TimelineEvent,
} from '../schemas';

/**
 * GET /openapi.json: OpenAPI 3.1, generated from the same zod schemas the
 * handlers validate with (`z.toJSONSchema`, JSON Schema 2020-12 — the
 * dialect OpenAPI 3.1 uses). Schemas with a `.meta({ id })` become named
 * components, referenced from the operations.
 */

type Json = Record<string, unknown>;

const named = [
  SubmitRunBody,
  SubmitRunResponse,
  RunView,
  RunPage,
  TimelineEvent,
  ReviewBody,
  CancelBody,
  CommandResponse,
  DlqEntryView,
  RedriveBody,
  DiscardBody,
  ErrorBody,
];

/**
 * Named schemas land in `$defs` of each conversion; hoist them into
 * `components.schemas` and point the references there.
 */
const components: Record<string, Json> = {};

function schemaOf(s: z.ZodType, io: 'input' | 'output'): Json {
  const converted = z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' });
  const {
    $defs,
    $schema: _drop,
    ...root
  } = rewriteRefs(converted) as Json & {
    $defs?: Record<string, Json>;
  };
  for (const [id, def] of Object.entries($defs ?? {})) components[id] ??= def;
  return root;
}

const rewriteRefs = (schema: unknown): Json =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/$defs/', '"#/components/schemas/')) as Json;

const ref = (s: z.ZodType) => ({ $ref: `#/components/schemas/${String(s.meta()?.id)}` });
const json = (schema: Json) => ({ content: { 'application/json': { schema } } });
const error = (description: string) => ({ description, ...json(ref(ErrorBody)) });
const common = {
  '400': error('invalid input: `issues` lists zod issues'),
  '401': error('missing or invalid API key'),
};

/** Query parameters from a zod object schema. */
function queryParams(s: z.ZodObject): Json[] {
  const js = schemaOf(s, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: js.required?.includes(name) ?? false,
    schema,
  }));
}

const runId = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
};
const dlqId = { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
const idemKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  schema: { type: 'string', maxLength: 200 },
};

export function openApiDocument(): Json {
  for (const s of named) {
    const id = s.meta()?.id;
    // Request bodies as clients send them (defaults optional), responses as sent.
    const root = schemaOf(s, id?.endsWith('Body') ? 'input' : 'output');
    if (id && !('$ref' in root)) components[id] ??= root;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Keel API',
      version: '1',
      description:
        'Submit and follow agent runs, decide human reviews, cancel runs, operate the dead-letter queue. Every route but /healthz and /openapi.json needs `Authorization: Bearer <API key>`.',
    },
    components: {
      schemas: components,
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
    },
    security: [{ apiKey: [] }],
    paths: {
      '/runs': {
        post: {
          summary: 'Submit a run (published to the NATS ingress; the planner records it)',
          parameters: [idemKey],
          requestBody: { required: true, ...json(ref(SubmitRunBody)) },
          responses: {
            '202': { description: 'accepted', ...json(ref(SubmitRunResponse)) },
            ...common,
            '403': error('tenant differs from the key’s'),
            '422': error('Idempotency-Key reused with another body'),
            '503': error('could not be queued; retry with the same key'),
          },
        },
        get: {
          summary: 'List runs, newest first (keyset paging)',
          parameters: queryParams(ListRunsQuery),
          responses: { '200': { description: 'a page', ...json(ref(RunPage)) }, ...common },
        },
      },
      '/runs/{id}': {
        get: {
          summary: 'A run: state, budget use, steps, tool calls, result or failure',
          parameters: [runId],
          responses: {
            '200': { description: 'the run', ...json(ref(RunView)) },
            ...common,
            '404': error('no such run (or another tenant’s)'),
          },
        },
      },
      '/runs/{id}/events': {
        get: {
          summary: 'The run’s whole timeline, every stream, in log order',
          parameters: [runId],
          responses: {
            '200': {
              description: 'events',
              ...json({
                type: 'object',
                properties: {
                  runId: { type: 'string' },
                  events: { type: 'array', items: ref(TimelineEvent) },
                },
              }),
            },
            ...common,
            '404': error('no such run'),
          },
        },
      },
      '/runs/{id}/events/stream': {
        get: {
          summary: 'Server-Sent Events: replay, then live; `end` after the run’s final event',
          parameters: [
            runId,
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'text/event-stream of TimelineEvent',
              content: { 'text/event-stream': { schema: ref(TimelineEvent) } },
            },
            ...common,
            '404': error('no such run'),
          },
        },
      },
      '/runs/{id}/reviews/{step}': {
        post: {
          summary: 'Decide a human review (approve, reject, modify)',
          parameters: [
            runId,
            { name: 'step', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
            idemKey,
          ],
          requestBody: { required: true, ...json(ref(ReviewBody)) },
          responses: {
            '200': {
              description: 'applied (or a repeat of an applied decision)',
              ...json(ref(CommandResponse)),
            },
            ...common,
            '404': error('no such run'),
            '409': error('the run is not waiting for this review, or has ended'),
            '422': error('the decision does not fit the proposal'),
            '503': error('the planner did not answer'),
          },
        },
      },
      '/runs/{id}/cancel': {
        post: {
          summary: 'Cancel a run',
          parameters: [runId],
          requestBody: { required: true, ...json(ref(CancelBody)) },
          responses: {
            '200': { description: 'cancelled', ...json(ref(CommandResponse)) },
            ...common,
            '404': error('no such run'),
            '409': error('the run has ended'),
          },
        },
      },
      '/dlq': {
        get: {
          summary: 'Dead letters, newest first',
          parameters: queryParams(DlqListQuery),
          responses: {
            '200': {
              description: 'entries',
              ...json({
                type: 'object',
                properties: { entries: { type: 'array', items: ref(DlqEntryView) } },
              }),
            },
            ...common,
          },
        },
      },
      '/dlq/{id}': {
        get: {
          summary: 'One dead letter with headers and payload',
          parameters: [dlqId],
          responses: {
            '200': { description: 'the entry', ...json(ref(DlqEntryView)) },
            ...common,
            '404': error('no such entry'),
          },
        },
      },
      '/dlq/{id}/redrive': {
        post: {
          summary: 'Publish the original message again (new Nats-Msg-Id)',
          parameters: [dlqId],
          requestBody: { required: false, ...json(ref(RedriveBody)) },
          responses: {
            '200': { description: 'redriven' },
            ...common,
            '404': error('no such entry'),
            '409': error('refused (e.g. discarded)'),
          },
        },
      },
      '/dlq/{id}/discard': {
        post: {
          summary: 'Give up on an entry, saying why',
          parameters: [dlqId],
          requestBody: { required: true, ...json(ref(DiscardBody)) },
          responses: {
            '200': { description: 'discarded', ...json(ref(DlqEntryView)) },
            ...common,
            '404': error('no such entry'),
            '409': error('already discarded'),
          },
        },
      },
      '/healthz': {
        get: {
          summary: 'Liveness and PostgreSQL/NATS readiness',
          security: [],
          responses: {
            '200': { description: 'ok' },
            '503': { description: 'a dependency is down' },
          },
        },
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          security: [],
          responses: { '200': { description: 'OpenAPI 3.1' } },
        },
      },
    },
  };
}

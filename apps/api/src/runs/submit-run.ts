import { createHash } from 'node:crypto';
import type { JetStreamClient } from 'nats';
import type { Pool } from 'pg';
import type { z } from 'zod';
import {
  MAX_RUN_REQUEST_BYTES,
  RunRequest,
  runIdFor,
  uuidv7,
  type KeelNames,
} from '@keel/contracts';
import { publishJson } from '@keel/messaging';
import type { ApiPrincipal } from '@keel/projections/store';
import { ApiError, ApiErrorCode } from '../http/api-error';
import { parseInput } from '../http/validate';
import { SubmitRunBody, type SubmitRunResponse } from '../schemas';
import { runLinks } from './run-views';

export interface SubmitDeps {
  readonly pool: Pool;
  readonly js: JetStreamClient;
  readonly names: KeelNames;
}

/**
 * POST /runs. The API owns no events: it publishes the request to the NATS
 * ingress exactly as an upstream system does (`Nats-Msg-Id` = request id),
 * and the planner records the run. Idempotency:
 * - the request id is the Idempotency-Key (or the body's `requestId`), and
 *   the run id is derived from (tenant, request id): the same key always
 *   names the same run, and the planner starts it at most once;
 * - the key's first body is remembered (`api_run_submissions`): the same key
 *   with another body is refused (422), the same body is answered with the
 *   same run (and published again, harmlessly: that also finishes a first
 *   attempt that crashed between remembering and publishing).
 */
export async function submitRun(
  deps: SubmitDeps,
  who: ApiPrincipal,
  rawBody: unknown,
  idempotencyKey: string | undefined,
): Promise<z.infer<typeof SubmitRunResponse>> {
  const body = parseInput(SubmitRunBody, rawBody, 'run request');
  if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,200}$/.test(idempotencyKey))
    throw new ApiError(
      400,
      ApiErrorCode.BAD_REQUEST,
      'Idempotency-Key: 1 to 200 visible ASCII characters',
    );
  if (body.tenant !== undefined && body.tenant !== who.tenant && who.role !== 'admin')
    throw new ApiError(
      403,
      'TENANT_MISMATCH',
      `tenant '${body.tenant}' does not match the API key's tenant`,
    );
  if (
    body.requestId !== undefined &&
    idempotencyKey !== undefined &&
    body.requestId !== idempotencyKey
  )
    throw new ApiError(
      400,
      ApiErrorCode.BAD_REQUEST,
      'requestId and the Idempotency-Key header differ: send one, or the same value in both',
    );
  const request = parseInput(
    RunRequest,
    {
      ...body,
      tenant: body.tenant ?? who.tenant,
      requestId: body.requestId ?? idempotencyKey ?? `api-${uuidv7()}`,
    },
    'run request',
  );
  const text = JSON.stringify(request);
  if (Buffer.byteLength(text) > MAX_RUN_REQUEST_BYTES)
    throw new ApiError(
      413,
      ApiErrorCode.PAYLOAD_TOO_LARGE,
      `run request over ${MAX_RUN_REQUEST_BYTES} bytes`,
    );

  const runId = runIdFor(request.tenant, request.requestId);
  const hash = createHash('sha256').update(canonicalJson(request)).digest('hex');
  const inserted = await deps.pool.query(
    `INSERT INTO api_run_submissions (tenant, request_id, run_id, body_sha256)
     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, request_id) DO NOTHING`,
    [request.tenant, request.requestId, runId, hash],
  );
  const duplicate = inserted.rowCount === 0;
  if (duplicate) {
    const { rows } = await deps.pool.query<{ body_sha256: string }>(
      'SELECT body_sha256 FROM api_run_submissions WHERE tenant = $1 AND request_id = $2',
      [request.tenant, request.requestId],
    );
    if (rows[0]?.body_sha256 !== hash)
      throw new ApiError(
        422,
        ApiErrorCode.IDEMPOTENCY_KEY_REUSED,
        'this Idempotency-Key was used with a different body',
      );
  }
  try {
    await publishJson(deps.js, deps.names.subjects.runRequest.build(), request, {
      msgId: request.requestId,
    });
  } catch (err) {
    throw new ApiError(
      503,
      ApiErrorCode.UNAVAILABLE,
      'the run could not be queued; retry with the same Idempotency-Key',
      undefined,
      { cause: err },
    );
  }
  return {
    runId,
    requestId: request.requestId,
    tenant: request.tenant,
    duplicate,
    links: runLinks(runId),
  };
}

/** JSON with object keys sorted, so equal requests hash equally whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

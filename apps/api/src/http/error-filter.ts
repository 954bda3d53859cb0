import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { DlqError, DlqErrorCode } from '@keel/dlq';
import { RequestError, RequestErrorCode } from '@keel/messaging';
import { ApiError, ApiErrorCode } from './api-error';

/**
 * Turns anything thrown by a route into the API's one error shape. Unknown
 * errors are 500 with a generic message (details go to the log, never to
 * the caller).
 */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  constructor(private readonly log: Logger) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    const e = this.toApiError(err);
    if (e.status >= 500) this.log.error({ err }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
    if (e.status === 401) headers['www-authenticate'] = 'Bearer';
    res.writeHead(e.status, headers);
    res.end(JSON.stringify(e.body()));
  }

  private toApiError(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    if (err instanceof DlqError) return fromDlq(err);
    if (err instanceof RequestError) {
      const unavailable =
        err.code === RequestErrorCode.NO_RESPONDERS || err.code === RequestErrorCode.TIMEOUT;
      return new ApiError(
        unavailable ? 503 : 502,
        ApiErrorCode.UNAVAILABLE,
        unavailable
          ? 'the planner did not answer; retry with the same Idempotency-Key'
          : err.message,
      );
    }
    if (err instanceof HttpException) return fromHttp(err);
    const bodyErr = err as { type?: unknown; status?: unknown };
    if (bodyErr.type === 'entity.parse.failed')
      return new ApiError(400, ApiErrorCode.INVALID_JSON, 'the body is not valid JSON');
    if (bodyErr.type === 'entity.too.large')
      return new ApiError(413, ApiErrorCode.PAYLOAD_TOO_LARGE, 'the body is too large');
    return new ApiError(500, ApiErrorCode.INTERNAL, 'internal error');
  }
}

function fromHttp(err: HttpException): ApiError {
  const status = err.getStatus();
  // Body-parser failures reach Nest wrapped in an HttpException with their cause.
  const cause = err.cause as { type?: unknown } | undefined;
  if (cause?.type === 'entity.parse.failed' || (status === 400 && /JSON/.test(err.message)))
    return new ApiError(400, ApiErrorCode.INVALID_JSON, 'the body is not valid JSON');
  const code =
    status === 404
      ? ApiErrorCode.NOT_FOUND
      : status === 413
        ? ApiErrorCode.PAYLOAD_TOO_LARGE
        : status < 500
          ? ApiErrorCode.BAD_REQUEST
          : ApiErrorCode.INTERNAL;
  return new ApiError(status, code, status === 404 ? 'no such route' : err.message);
}

function fromDlq(err: DlqError): ApiError {
  switch (err.code) {
    case DlqErrorCode.NOT_FOUND:
      return new ApiError(404, ApiErrorCode.NOT_FOUND, 'dead letter not found');
    case DlqErrorCode.REFUSED:
      return new ApiError(409, ApiErrorCode.CONFLICT, err.message);
    case DlqErrorCode.INVALID_ARGUMENT:
      return new ApiError(400, ApiErrorCode.BAD_REQUEST, err.message);
    case DlqErrorCode.PUBLISH_FAILED:
      return new ApiError(502, ApiErrorCode.UNAVAILABLE, err.message);
    case DlqErrorCode.NOT_MIGRATED:
      return new ApiError(503, ApiErrorCode.UNAVAILABLE, err.message);
  }
}

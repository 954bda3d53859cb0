import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { JetStreamClient, NatsConnection } from 'nats';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { KeelNames } from '@keel/contracts';
import { JETSTREAM, NATS_CONNECTION } from '@keel/messaging';
import { listSummaries, readRunEvents, type SummaryCursor } from '@keel/projections/store';
import { NAMES, PG_POOL } from '@keel/runtime';
import { principalOf } from '../auth/api-key.guard';
import type { ApiConfig } from '../config';
import { ApiError, ApiErrorCode } from '../http/api-error';
import type { HttpRequest } from '../http/http-types';
import { parseInput } from '../http/validate';
import { CancelBody, ListRunsQuery, ReviewBody, RunIdParam, StepParam } from '../schemas';
import { API_CONFIG, EVENT_STREAMS } from '../tokens';
import type { EventStreams } from './event-stream';
import { findVisibleRun } from './run-access';
import { cancelRun, reviewRun } from './run-commands';
import { runView, timelineEvent } from './run-views';
import { submitRun } from './submit-run';

/** /runs: submit, list, show, timeline, live events, review decisions, cancel. */
@Controller('runs')
export class RunsController {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(JETSTREAM) private readonly js: JetStreamClient,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(EVENT_STREAMS) private readonly streams: EventStreams,
  ) {}

  @Post()
  @HttpCode(202)
  async submit(
    @Req() req: HttpRequest,
    @Res({ passthrough: true }) res: ServerResponse,
    @Headers('idempotency-key') key: string | undefined,
  ) {
    const out = await submitRun(
      { pool: this.pool, js: this.js, names: this.names },
      principalOf(req),
      req.body,
      key,
    );
    res.setHeader('location', out.links.self);
    return out;
  }

  @Get()
  async list(@Req() req: HttpRequest, @Query() query: unknown) {
    const who = principalOf(req);
    const q = parseInput(ListRunsQuery, query, 'query');
    // A tenant key lists its own tenant only (a filter for another tenant lists nothing).
    const tenant = who.role === 'admin' ? q.tenant : who.tenant;
    if (who.role !== 'admin' && q.tenant !== undefined && q.tenant !== who.tenant)
      return { runs: [], nextCursor: null };
    const page = await listSummaries(this.pool, {
      limit: q.limit,
      ...(tenant !== undefined ? { tenant } : {}),
      ...(q.status !== undefined ? { status: q.status } : {}),
      ...(q.cursor !== undefined ? { cursor: decodeCursor(q.cursor) } : {}),
    });
    return {
      runs: page.runs.map((s) =>
        runView({ runId: s.runId, tenant: s.tenant, summary: s, submittedAt: undefined }),
      ),
      nextCursor: page.nextCursor ? encodeCursor(page.nextCursor) : null,
    };
  }

  @Get(':id')
  async show(@Req() req: HttpRequest, @Param('id') id: string) {
    const runId = parseInput(RunIdParam, id, 'run id');
    return runView(await findVisibleRun(this.pool, principalOf(req), runId));
  }

  @Get(':id/events')
  async events(@Req() req: HttpRequest, @Param('id') id: string) {
    const runId = parseInput(RunIdParam, id, 'run id');
    await findVisibleRun(this.pool, principalOf(req), runId);
    const events = await readRunEvents(this.pool, runId);
    return { runId, events: events.map(timelineEvent) };
  }

  @Get(':id/events/stream')
  async stream(@Req() req: HttpRequest, @Res() res: ServerResponse, @Param('id') id: string) {
    const runId = parseInput(RunIdParam, id, 'run id');
    await findVisibleRun(this.pool, principalOf(req), runId);
    await this.streams.follow(req, res, runId);
  }

  @Post(':id/reviews/:step')
  @HttpCode(200)
  async review(
    @Req() req: HttpRequest,
    @Param('id') id: string,
    @Param('step') stepText: string,
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
  ) {
    const runId = parseInput(RunIdParam, id, 'run id');
    const step = parseInput(StepParam, stepText, 'step');
    const decision = parseInput(ReviewBody, body, 'review decision');
    const who = principalOf(req);
    const run = await findVisibleRun(this.pool, who, runId);
    return reviewRun(this.commandDeps(), who, run, step, decision, key);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  async cancel(@Req() req: HttpRequest, @Param('id') id: string, @Body() body: unknown) {
    const runId = parseInput(RunIdParam, id, 'run id');
    const input = parseInput(CancelBody, body, 'cancel');
    const who = principalOf(req);
    const run = await findVisibleRun(this.pool, who, runId);
    return cancelRun(this.commandDeps(), who, run, input);
  }

  private commandDeps() {
    return { nc: this.nc, names: this.names, timeoutMs: this.config.KEEL_API_COMMAND_TIMEOUT_MS };
  }
}

const CursorJson = z.tuple([z.iso.datetime(), z.string().uuid()]);

const encodeCursor = (c: SummaryCursor) =>
  Buffer.from(JSON.stringify([c.createdAt, c.runId])).toString('base64url');

function decodeCursor(text: string): SummaryCursor {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new ApiError(400, ApiErrorCode.BAD_REQUEST, 'invalid cursor');
  }
  const [createdAt, runId] = parseInput(CursorJson, json, 'cursor');
  return { createdAt, runId };
}

import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import type { JetStreamClient } from 'nats';
import type { Pool } from 'pg';
import {
  discardEntry,
  entrySummaryJson,
  listEntries,
  redriveEntry,
  showEntry,
  shownEntryJson,
} from '@keel/dlq';
import { JETSTREAM } from '@keel/messaging';
import { PG_POOL } from '@keel/runtime';
import { principalOf } from '../auth/api-key.guard';
import type { HttpRequest } from '../http/http-types';
import { parseInput } from '../http/validate';
import { DiscardBody, DlqIdParam, DlqListQuery, RedriveBody } from '../schemas';
import { assertEntryVisible, entriesByIds, tenantEntryIds } from './dlq-access';

/** /dlq: the operable dead-letter queue over HTTP, with the rules of libs/dlq (as `keel dlq`). */
@Controller('dlq')
export class DlqController {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(JETSTREAM) private readonly js: JetStreamClient,
  ) {}

  @Get()
  async list(@Req() req: HttpRequest, @Query() query: unknown) {
    const who = principalOf(req);
    const q = parseInput(DlqListQuery, query, 'query');
    const filter = {
      status: q.status,
      limit: q.limit,
      ...(q.code !== undefined ? { code: q.code } : {}),
      ...(q.run !== undefined ? { runId: q.run } : {}),
      ...(q.consumer !== undefined ? { consumer: q.consumer } : {}),
    };
    const entries =
      who.role === 'admin'
        ? await listEntries(this.pool, filter)
        : await entriesByIds(this.pool, await tenantEntryIds(this.pool, who.tenant, filter));
    return { entries: entries.map(entrySummaryJson) };
  }

  @Get(':id')
  async show(@Req() req: HttpRequest, @Param('id') idText: string) {
    const id = parseInput(DlqIdParam, idText, 'entry id');
    await assertEntryVisible(this.pool, principalOf(req), id);
    return shownEntryJson(await showEntry(this.pool, id));
  }

  @Post(':id/redrive')
  @HttpCode(200)
  async redrive(@Req() req: HttpRequest, @Param('id') idText: string, @Body() body: unknown) {
    const id = parseInput(DlqIdParam, idText, 'entry id');
    const input = parseInput(RedriveBody, body ?? {}, 'redrive');
    const who = principalOf(req);
    await assertEntryVisible(this.pool, who, id);
    return redriveEntry({ pool: this.pool, js: this.js }, id, {
      by: `api-key:${who.keyId}`,
      ...(input.note !== undefined ? { note: input.note } : {}),
    });
  }

  @Post(':id/discard')
  @HttpCode(200)
  async discard(@Req() req: HttpRequest, @Param('id') idText: string, @Body() body: unknown) {
    const id = parseInput(DlqIdParam, idText, 'entry id');
    const input = parseInput(DiscardBody, body, 'discard');
    const who = principalOf(req);
    await assertEntryVisible(this.pool, who, id);
    return entrySummaryJson(
      await discardEntry(this.pool, id, { by: `api-key:${who.keyId}`, reason: input.reason }),
    );
  }
}

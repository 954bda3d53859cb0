import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { NatsConnection } from 'nats';
import type { Pool } from 'pg';
import { NATS_CONNECTION } from '@keel/messaging';
import { PG_POOL } from '@keel/runtime';
import { openApiDocument } from './openapi/openapi';

/** Unauthenticated: health and the API description. */
@Controller()
export class SystemController {
  private readonly doc = openApiDocument();
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
  ) {}

  @Get('healthz')
  async health(@Res({ passthrough: true }) res: ServerResponse) {
    const postgres = await this.pool.query('SELECT 1').then(
      () => true,
      () => false,
    );
    const nats = !this.nc.isClosed() && this.nc.info !== undefined;
    if (!postgres || !nats) res.statusCode = 503;
    return { status: postgres && nats ? 'ok' : 'degraded', postgres, nats };
  }

  @Get('openapi.json')
  openapi() {
    return this.doc;
  }
}

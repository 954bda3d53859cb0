import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Pool } from 'pg';
import { createPool } from '@keel/event-store';
import type { PoolResources } from '@keel/tools';

/**
 * Each tool pool gets its own HTTP agent and its own small PostgreSQL pool:
 * a pool whose tools hang holds only its own sockets and connections, never
 * another pool's (the bulkhead goes all the way down).
 */
export class PoolResourceSet {
  private readonly byPool = new Map<string, { http: Agent; https: HttpsAgent; db: Pool }>();

  constructor(
    private readonly opts: {
      databaseUrl: string;
      schema: string;
      /** Sockets per pool: its concurrency. */
      maxSockets: number;
      /** Connections per pool. */
      dbConnections: number;
    },
  ) {}

  of(pool: string): PoolResources {
    let r = this.byPool.get(pool);
    if (!r) {
      r = {
        http: new Agent({ keepAlive: true, maxSockets: this.opts.maxSockets }),
        https: new HttpsAgent({ keepAlive: true, maxSockets: this.opts.maxSockets }),
        db: createPool({
          connectionString: this.opts.databaseUrl,
          schema: this.opts.schema,
          max: this.opts.dbConnections,
        }),
      };
      r.db.on('error', () => undefined); // an idle client's error surfaces on the next query
      this.byPool.set(pool, r);
    }
    return r;
  }

  async close(): Promise<void> {
    for (const r of this.byPool.values()) {
      r.http.destroy();
      r.https.destroy();
      await r.db.end().catch(() => undefined);
    }
    this.byPool.clear();
  }
}

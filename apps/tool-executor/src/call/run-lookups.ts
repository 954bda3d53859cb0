import type { Pool } from 'pg';

/**
 * Questions about a run's earlier tool calls, answered from the log (by the
 * `events_run_idx` index on the run id in each event's metadata).
 */
export class RunLookups {
  constructor(private readonly pool: Pool) {}

  /** An earlier successful call of `tool` with the same input in this run (read cache). */
  async cachedOutput(
    runId: string,
    tool: string,
    hash: string,
  ): Promise<{ callId: string; output: Record<string, unknown> } | undefined> {
    const { rows } = await this.pool.query<{
      data: { callId: string; output: Record<string, unknown> };
    }>(
      `SELECT data FROM events
        WHERE metadata->>'correlationId' = $1 AND type = 'ToolCallSucceeded'
          AND data->>'tool' = $2 AND data->>'inputHash' = $3 AND data->>'cachedFrom' IS NULL
        ORDER BY global_position LIMIT 1`,
      [runId, tool, hash],
    );
    const hit = rows[0]?.data;
    return hit ? { callId: hit.callId, output: hit.output } : undefined;
  }

  /** Retries this run's tool calls have had so far (its retry budget's use). */
  async retriesUsed(runId: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM events
        WHERE metadata->>'correlationId' = $1 AND type = 'ToolCallAttemptFailed'
          AND data->>'retryInMs' IS NOT NULL`,
      [runId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * The run's executed, successful calls with their input and output, in the
   * order they completed (cache hits excluded: they did nothing to undo).
   */
  async completedCalls(runId: string): Promise<
    {
      callId: string;
      tool: string;
      input: Record<string, unknown>;
      output: Record<string, unknown>;
    }[]
  > {
    const { rows } = await this.pool.query<{
      call_id: string;
      tool: string;
      input: Record<string, unknown>;
      output: Record<string, unknown>;
    }>(
      `SELECT s.data->>'callId' AS call_id, s.data->>'tool' AS tool,
              r.data->'input' AS input, s.data->'output' AS output
         FROM events s
         JOIN events r ON r.metadata->>'correlationId' = $1 AND r.type = 'ToolCallRequested'
                      AND r.data->>'callId' = s.data->>'callId'
        WHERE s.metadata->>'correlationId' = $1 AND s.type = 'ToolCallSucceeded'
          AND s.data->>'cachedFrom' IS NULL
        ORDER BY s.global_position`,
      [runId],
    );
    return rows.map((r) => ({ callId: r.call_id, tool: r.tool, input: r.input, output: r.output }));
  }
}

import type { Pool } from 'pg';

/**
 * Where a sequential run's time goes, hop by hop: the median gap between
 * consecutive events appended while the run ran (by `created_at`, the
 * appending statement's time), keyed "previous type → type", plus the gap from the
 * submit to the first event and from the last event to the end's arrival.
 */
export interface HopGap {
  readonly hop: string;
  readonly count: number;
  readonly p50Ms: number;
}

export async function hopTimeline(
  pool: Pool,
  runs: readonly { runId: string; submittedAtMs: number; endedAtMs: number }[],
): Promise<HopGap[]> {
  const gaps = new Map<string, number[]>();
  const add = (hop: string, ms: number) => {
    const list = gaps.get(hop) ?? [];
    list.push(ms);
    gaps.set(hop, list);
  };
  const order: string[] = [];
  for (const run of runs) {
    // Runs are sequential: every event appended while this one ran is its own
    // (run, budget and tool-call streams alike).
    const { rows } = await pool.query<{ type: string; at: string }>(
      `SELECT split_part(stream_id, ':', 1) || '/' || type AS type,
              (extract(epoch FROM created_at) * 1000)::float8::text AS at
         FROM events
        WHERE created_at >= to_timestamp($1 / 1000.0) AND created_at <= to_timestamp($2 / 1000.0)
        ORDER BY created_at, global_position`,
      [run.submittedAtMs, run.endedAtMs],
    );
    let prevType = 'submit';
    let prevAt = run.submittedAtMs;
    rows.forEach((r, i) => {
      const at = Number(r.at);
      const hop = `${i}: ${prevType} → ${r.type}`;
      if (!gaps.has(hop)) order.push(hop);
      add(hop, at - prevAt);
      prevType = r.type;
      prevAt = at;
    });
    const hop = `${rows.length}: ${prevType} → end seen`;
    if (!gaps.has(hop)) order.push(hop);
    add(hop, run.endedAtMs - prevAt);
  }
  return order.map((hop) => {
    const list = [...gaps.get(hop)!].sort((a, b) => a - b);
    return {
      hop,
      count: list.length,
      p50Ms: Math.round(list[Math.floor(list.length / 2)]! * 100) / 100,
    };
  });
}

/** Every event of one run (any stream, by its metadata), with ms since the submit: why a run was slow. */
export async function runTimeline(
  pool: Pool,
  run: { runId: string; submittedAtMs: number },
): Promise<string> {
  const { rows } = await pool.query<{ stream: string; type: string; at: string }>(
    `SELECT stream_id AS stream, type, (extract(epoch FROM created_at) * 1000)::float8::text AS at
       FROM events WHERE metadata->>'correlationId' = $1 ORDER BY created_at, global_position`,
    [run.runId],
  );
  return rows
    .map(
      (r) =>
        `${(Number(r.at) - run.submittedAtMs).toFixed(1).padStart(9)} ms  ${r.stream.split(':')[0]!.padEnd(9)} ${r.type}`,
    )
    .join('\n');
}

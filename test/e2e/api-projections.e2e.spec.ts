import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { uuidv7 } from '@keel/contracts';
import { allSummaries } from '@keel/projections/store';
import {
  calculatorScript,
  finalReply,
  startScriptedModel,
  waitFor,
  type ScriptedModel,
} from '@keel/testing';
import { freePort } from '../support/free-port';
import { Scenarios, submitRun, waitForEvent } from '../support/scenarios';
import { ROOT, SERVICES, startStack, type KeelStack } from '../support/stack';

jest.setTimeout(120_000);

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The read model and the operator's CLI: `run_summaries` kept live by the
 * API's projector equals, row for row, a rebuild from the whole log
 * (`keel projections rebuild`); `keel runs list/show` and `keel api-keys
 * create` work from the built binary against the live stack.
 */
describe('api: projections, rebuild and the runs CLI', () => {
  const scenarios = new Scenarios();
  let model: ScriptedModel;
  let stack: KeelStack;
  let base: string;
  const runIds: string[] = [];

  beforeAll(async () => {
    model = await startScriptedModel(scenarios.script);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      services: [...SERVICES, 'api'],
      env: {
        KEEL_API_PORT: String(port),
        // Priced, so the cost (folded from the budget streams) is part of what is compared.
        KEEL_MODEL_PRICES: JSON.stringify({
          'keel-scripted': { inputPerMTok: 1000, outputPerMTok: 1000 },
        }),
      },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  /** The built CLI (`node dist/apps/cli/main.js …`) with the stack's environment. */
  const keel = (...args: string[]): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'dist', 'apps', 'cli', 'main.js'), ...args],
        {
          env: { PATH: process.env.PATH ?? '', ...stack.env },
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  /** Every event of a projected stream has been applied (the projector caught up with the log). */
  const projectorCaughtUp = async () => {
    const { rows } = await stack.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM events e
        WHERE e.stream_id NOT LIKE 'budget:tenant:%'
          AND NOT EXISTS (SELECT 1 FROM projection_positions p
                           WHERE p.stream_id = e.stream_id AND p.version >= e.stream_version)`,
    );
    return rows[0]!.n === 0;
  };
  const positions = async () =>
    (
      await stack.pool.query<{ stream_id: string; run_id: string; version: number }>(
        'SELECT stream_id, run_id, version FROM projection_positions ORDER BY stream_id',
      )
    ).rows;

  it('projects runs live (two tenants, with and without tool calls)', async () => {
    // With a tool call (two tenants), and a plain answer.
    scenarios.add('proj-complete', calculatorScript('6 * 7', 'It is '));
    scenarios.add('proj-other', calculatorScript('1 + 1', 'It is '));
    scenarios.add('proj-final', () => finalReply('plain answer'));
    const a = await submitRun(stack, 'proj-complete', { tenant: 'acme' });
    const b = await submitRun(stack, 'proj-other', { tenant: 'globex' });
    const c = await submitRun(stack, 'proj-final', { tenant: 'acme', tools: [] });
    runIds.push(a.runId, b.runId, c.runId);
    for (const id of runIds) await waitForEvent(stack.pool, id, undefined, 30_000);
    await waitFor(projectorCaughtUp, { timeoutMs: 30_000, description: 'the projector caught up' });
    const rows = await allSummaries(stack.pool);
    expect(rows.find((r) => r.runId === a.runId)).toMatchObject({
      tenant: 'acme',
      status: 'completed',
      answer: 'It is 42',
      toolCalls: 1,
    });
    expect(rows.find((r) => r.runId === c.runId)).toMatchObject({
      status: 'completed',
      answer: 'plain answer',
    });
    expect(rows.find((r) => r.runId === b.runId)).toMatchObject({
      tenant: 'globex',
      answer: 'It is 2',
    });
    for (const r of rows) expect(r.costMicros).toBeGreaterThan(0);
  });

  it('keel projections rebuild gives exactly the live rows', async () => {
    // Let the log settle: final settlements and deliveries land after a run ends.
    let before: unknown;
    await waitFor(
      async () => {
        if (!(await projectorCaughtUp())) return false;
        const snapshot = JSON.stringify([await allSummaries(stack.pool), await positions()]);
        const stable = snapshot === before;
        before = snapshot;
        return stable;
      },
      { timeoutMs: 30_000, intervalMs: 1_000, description: 'a settled read model' },
    );
    const live = await allSummaries(stack.pool);
    const livePositions = await positions();
    expect(live.length).toBeGreaterThanOrEqual(3);

    const r = await keel('projections', 'rebuild', '--json');
    expect(r).toMatchObject({ code: 0 });
    const result = JSON.parse(r.stdout) as { runs: number; events: number; gaps: string[] };
    expect(result).toMatchObject({ runs: live.length, gaps: [] });

    expect(await allSummaries(stack.pool)).toEqual(live);
    expect(await positions()).toEqual(livePositions);

    // The projector goes on from the rebuilt positions: a new run is projected once.
    scenarios.add('proj-after', () => finalReply('after the rebuild'));
    const d = await submitRun(stack, 'proj-after', { tenant: 'acme', tools: [] });
    await waitForEvent(stack.pool, d.runId);
    await waitFor(projectorCaughtUp, {
      timeoutMs: 30_000,
      description: 'the projector caught up again',
    });
    const after = await allSummaries(stack.pool);
    expect(after.find((x) => x.runId === d.runId)).toMatchObject({
      status: 'completed',
      answer: 'after the rebuild',
    });
    expect(after.filter((x) => x.runId !== d.runId)).toEqual(live);
    runIds.push(d.runId);
  });

  it('keel runs list and show print the read model and the timeline', async () => {
    const list = await keel('runs', 'list', '--tenant', 'acme');
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^RUN\s+TENANT\s+STATUS\s+STEPS\s+TOOLS/);
    expect(lines).toHaveLength(1 + 3); // acme's three runs
    expect(list.stdout).toContain(runIds[0]);
    expect(list.stdout).not.toContain(runIds[1]); // globex's
    expect(list.stdout).toMatch(/completed .*It is 42/);

    const json = await keel('runs', 'list', '--status', 'completed', '--json');
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout) as Array<{ runId: string; status: string }>;
    expect(listed.every((x) => x.status === 'completed')).toBe(true);
    expect(listed.map((x) => x.runId)).toContain(runIds[0]);

    const show = await keel('runs', 'show', runIds[0]!);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^run ${runIds[0]}`));
    expect(show.stdout).toMatch(/status\s+completed/);
    expect(show.stdout).toMatch(
      /TIME\s+SOURCE\s+EVENT\s+STEP\s+ATTEMPT\s+TOKENS\s+LATENCY\s+ERROR/,
    );
    expect(show.stdout).toMatch(/planner\s+ModelDecisionRecorded\s+1\s+1\s+\d+\/\d+\s+\d+ ms/);
    expect(show.stdout).toMatch(/tool-executor\s+ToolCallSucceeded \[toolcall\]/);
    expect(show.stdout).toMatch(/RunCompleted/);

    const shown = JSON.parse((await keel('runs', 'show', runIds[1]!, '--json')).stdout) as {
      summary: { tenant: string };
      events: Array<{ type: string; source: string }>;
    };
    expect(shown.summary.tenant).toBe('globex');
    expect(shown.events.find((e) => e.type === 'RunRequested')?.source).toBe('planner');
    expect(shown.events.find((e) => e.type === 'BudgetReserved')?.source).toBe('budget-guard');

    const missing = await keel('runs', 'show', uuidv7());
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toMatch(/^keel runs: run [0-9a-f-]+ not found$/);
    const bad = await keel('runs', 'show', 'nope');
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect((await keel('runs', 'list', '--status', 'weird')).code).toBe(2);
  });

  it('keel api-keys create issues a key that works once printed, and only for its tenant', async () => {
    const created = await keel('api-keys', 'create', '--tenant', 'acme');
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^keel_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const { rows } = await stack.pool.query<{ hashed: boolean }>(
      `SELECT key_hash <> convert_to($1, 'UTF8') AS hashed FROM api_keys WHERE tenant = 'acme'`,
      [key],
    );
    expect(rows).toEqual([{ hashed: true }]);
    const res = await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { runs: Array<{ tenant: string }> };
    expect(body.runs.length).toBe(3);
    expect(body.runs.every((x) => x.tenant === 'acme')).toBe(true);
    // The key never reaches a log.
    for (const h of stack.services.values()) expect(h.logs()).not.toContain(key);
    expect((await keel('api-keys', 'create')).code).toBe(2);
  });
});

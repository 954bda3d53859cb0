import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { headers as natsHeaders, JSONCodec, StringCodec, type Msg } from 'nats';
import { runIdFor, streamIds } from '@keel/contracts';
import { ensureConsumer, headersToRecord } from '@keel/messaging';
import { plannerConsumers } from '@keel/runtime';
import { calculatorScript, startScriptedModel, waitFor, type ScriptedModel } from '@keel/testing';
import { freePort } from '../support/free-port';
import { deadLettersOf, ROOT, startStack, streamTypes, type KeelStack } from '../support/stack';

jest.setTimeout(180_000);

const TRACE_ID = '5a1d0c2f9e3b4a6c8d7e6f5a4b3c2d1e';
const TRACEPARENT = `00-${TRACE_ID}-1f2e3d4c5b6a7980-01`;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The dead-letter queue as an operator works it: real dead letters from the
 * services, ingested by the budget guard into PostgreSQL, handled with the
 * built `keel dlq` binary — list, show, discard, and a redrive that completes
 * the work it failed on, exactly once.
 *
 * The planner runs bound to durables this test provisions (as `keel
 * provision` does, KEEL_NATS_PROVISION=false) with `max_deliver` 2 on the
 * ingress, so a run request that keeps failing is dead-lettered in seconds
 * instead of after 50 deliveries.
 */
describe('keel dlq: list, show, discard and redrive real dead letters', () => {
  let model: ScriptedModel;
  let stack: KeelStack;
  let metricsPort: number;

  beforeAll(async () => {
    model = await startScriptedModel(calculatorScript('6 * 7', 'It is '));
    metricsPort = await freePort();
    stack = await startStack({
      modelBaseUrl: model.baseUrl,
      services: ['budget-guard', 'tool-executor', 'outbox'],
      serviceEnv: (service): Record<string, string> =>
        service === 'budget-guard' ? { KEEL_METRICS_PORT: String(metricsPort) } : {},
    });
    const ingress = stack.names.consumers.plannerIngress;
    for (const c of Object.values(plannerConsumers(stack.names))) {
      await ensureConsumer(
        stack.jsm,
        c.stream,
        c.durable === ingress ? { ...c, maxDeliver: 2 } : c,
      );
    }
    await stack.start('planner', 'planner', { KEEL_NATS_PROVISION: 'false' });
  });

  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  /** Runs the built CLI (`node dist/apps/cli/main.js dlq …`) with the stack's environment. */
  const dlq = (...args: string[]): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'dist', 'apps', 'cli', 'main.js'), 'dlq', ...args],
        {
          env: { PATH: process.env.PATH ?? '', ...stack.env, KEEL_OPERATOR: 'e2e-operator' },
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
  const dlqJson = async <T>(...args: string[]): Promise<T> => {
    const r = await dlq(...args, '--json');
    if (r.code !== 0) throw new Error(`keel dlq ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const rowsOf = async (consumer: string) =>
    (
      await stack.pool.query<{ id: string; code: string; kind: string; status: string }>(
        'SELECT id, code, kind, status FROM dead_letters WHERE consumer = $1 ORDER BY id',
        [consumer],
      )
    ).rows;
  const metricLine = async (code: string): Promise<string | undefined> => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return new RegExp(`^keel_dlq_depth\\{code="${code}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1];
  };

  interface ListedEntry {
    id: number;
    kind: string;
    code: string;
    status: string;
    consumer: string;
    stream: string | null;
    runId: string | null;
    reason: string;
    redriveCount: number;
    duplicateOf: number | null;
    resolvedBy: string | null;
    resolutionNote: string | null;
  }

  let schemaInvalidId: number;

  it('lists, shows and discards the dead letters of bad run requests', async () => {
    const { names } = stack;
    const subject = names.subjects.runRequest.build();
    await stack.js.publish(subject, StringCodec().encode('{not json'), { msgID: 'dlq-bad-1' });
    await stack.js.publish(
      subject,
      JSONCodec().encode({ requestId: 'dlq-bad-2', tenant: 'ACME!', input: {} }),
      { msgID: 'dlq-bad-2' },
    );
    // Each failure reaches the DLQ twice (the planner's dead letter, then the TERMINATED
    // advisory of its term): wait for all four records.
    await waitFor(async () => (await rowsOf(names.consumers.plannerIngress)).length >= 4, {
      timeoutMs: 30_000,
      description: 'two dead letters and their two advisories in dead_letters',
    });

    const open = await dlqJson<ListedEntry[]>('list');
    expect(open.map((e) => e.code).sort()).toEqual(['INVALID_JSON', 'SCHEMA_INVALID']);
    for (const e of open) {
      expect(e).toMatchObject({
        kind: 'dead_letter',
        status: 'open',
        consumer: names.consumers.plannerIngress,
        stream: names.streams.ingress,
      });
    }
    const invalidJson = open.find((e) => e.code === 'INVALID_JSON')!;
    const schemaInvalid = open.find((e) => e.code === 'SCHEMA_INVALID')!;
    schemaInvalidId = schemaInvalid.id;
    // Newest first.
    expect(open.map((e) => e.id)).toEqual([...open.map((e) => e.id)].sort((a, b) => b - a));

    // The advisories are there too, as discarded duplicates: one failure shows once.
    const all = await dlqJson<ListedEntry[]>('list', '--status', 'all');
    const duplicates = all.filter((e) => e.kind === 'terminated');
    expect(duplicates.map((d) => d.duplicateOf).sort()).toEqual(
      [invalidJson.id, schemaInvalid.id].sort(),
    );
    for (const d of duplicates) {
      expect(d).toMatchObject({
        status: 'discarded',
        resolutionNote: `duplicate of #${d.duplicateOf}`,
      });
    }
    expect(
      (await dlqJson<ListedEntry[]>('list', '--code', 'SCHEMA_INVALID')).map((e) => e.id),
    ).toEqual([schemaInvalid.id]);
    expect(
      await dlqJson<ListedEntry[]>('list', '--code', 'SCHEMA_INVALID', '--limit', '1'),
    ).toHaveLength(1);

    // The human table.
    const table = await dlq('list');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+CODE\s+CONSUMER\s+RUN/);
    expect(table.stdout).toContain('SCHEMA_INVALID');
    expect(table.stdout.trim().split('\n')).toHaveLength(3);

    // show: everything, the payload decoded.
    const shown = await dlqJson<{
      payload: { encoding: string; text?: string; json?: unknown };
      headers: Record<string, string>;
      reason: string;
      streamSeq: number;
    }>('show', String(invalidJson.id));
    expect(shown.payload).toMatchObject({ encoding: 'utf8', text: '{not json' });
    expect(shown.headers['Nats-Msg-Id']).toBe('dlq-bad-1');
    const human = await dlq('show', String(schemaInvalid.id));
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`^dead letter #${schemaInvalid.id}\\s+open`));
    expect(human.stdout).toMatch(/code\s+SCHEMA_INVALID/);
    expect(human.stdout).toMatch(/reason\s+.*tenant/);
    expect(human.stdout).toMatch(/payload\s+\(\d+ bytes, json\)/);
    expect(human.stdout).toContain('"requestId": "dlq-bad-2"');

    // discard: a reason is required; then the entry leaves the open list.
    const noReason = await dlq('discard', String(invalidJson.id));
    expect(noReason.code).toBe(2);
    expect(noReason.stdout).toBe('');
    expect(noReason.stderr.trim().split('\n')).toHaveLength(1);
    expect(noReason.stderr).toMatch(/^keel dlq: discard needs --reason/);
    const discarded = await dlq(
      'discard',
      String(invalidJson.id),
      '--reason',
      'producer sent truncated JSON; fixed upstream',
    );
    expect(discarded.code).toBe(0);
    expect(discarded.stdout).toMatch(
      new RegExp(`^discarded #${invalidJson.id} \\(INVALID_JSON\\)`),
    );
    expect((await dlqJson<ListedEntry[]>('list')).map((e) => e.id)).toEqual([schemaInvalid.id]);
    expect(
      (await dlqJson<ListedEntry[]>('list', '--status', 'discarded', '--code', 'INVALID_JSON'))[0],
    ).toMatchObject({
      id: invalidJson.id,
      resolvedBy: 'e2e-operator',
      resolutionNote: 'producer sent truncated JSON; fixed upstream',
    });

    // Refusals are one line on stderr with a non-zero exit.
    for (const [args, pattern] of [
      [['redrive', String(invalidJson.id)], /is discarded and cannot be redriven/],
      [['redrive', String(duplicates[0]!.id)], /discarded duplicate of #\d+; redrive #\d+ instead/],
      [['show', '999999'], /entry #999999 not found/],
      [['discard', String(invalidJson.id), '--reason', 'again'], /already discarded/],
    ] as const) {
      const r = await dlq(...args);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }

    // The depth gauge follows the table (polled every 5 s).
    await waitFor(
      async () =>
        (await metricLine('SCHEMA_INVALID')) === '1' && (await metricLine('INVALID_JSON')) === '0',
      { timeoutMs: 20_000, description: 'keel_dlq_depth: SCHEMA_INVALID 1, INVALID_JSON 0' },
    );
  });

  it('a redriven run request resumes where it failed and completes exactly once, however often it is redriven', async () => {
    const { names } = stack;
    // A real, fixable failure: the budget guard is down, so the planner cannot reserve budget
    // for the run's first model call (it fails closed) and, after max_deliver, dead-letters it.
    const guard = stack.services.get('budget-guard')!;
    guard.kill('SIGTERM');
    await guard.exited;

    const request = {
      requestId: `dlq-redrive-${stack.ns.prefix}`,
      tenant: 'acme',
      input: { prompt: 'What is 6 * 7?' },
      tools: ['calculator'],
    };
    const runId = runIdFor(request.tenant, request.requestId);
    const h = natsHeaders();
    h.set('traceparent', TRACEPARENT);
    await stack.js.publish(names.subjects.runRequest.build(), JSONCodec().encode(request), {
      msgID: request.requestId,
      headers: h,
    });
    const letter = await waitFor(
      async () =>
        (await deadLettersOf(stack, names.consumers.plannerIngress)).find(
          (l) => l.code === 'HANDLER_FAILED',
        ),
      { timeoutMs: 30_000, description: 'the run request dead-lettered while the guard is down' },
    );
    expect(letter.reason).toMatch(/budget guard/);
    expect(await streamTypes(stack.pool, streamIds.run(runId))).not.toContain('RunCompleted');
    expect(model.requests).toHaveLength(0); // no budget, no model call

    // The guard comes back and ingests what reached the DLQ while it was down.
    await stack.start('budget-guard');
    const [entry] = await waitFor(
      async () => {
        const listed = await dlqJson<ListedEntry[]>('list', '--run', runId);
        return listed.length > 0 ? listed : undefined;
      },
      { timeoutMs: 30_000, description: 'the dead letter of the run request in keel dlq list' },
    );
    expect(entry).toMatchObject({ code: 'HANDLER_FAILED', status: 'open', redriveCount: 0 });
    expect(await dlqJson<ListedEntry[]>('list', '--run', runId)).toHaveLength(1);

    await waitFor(async () => (await metricLine('HANDLER_FAILED')) === '1', {
      timeoutMs: 20_000,
      description: 'keel_dlq_depth{code="HANDLER_FAILED"} 1',
    });

    // Watch what the redrive publishes.
    const copies: Msg[] = [];
    const sub = stack.nc.subscribe(names.subjects.runRequest.pattern, {
      callback: (_err, m) => copies.push(m),
    });
    await stack.nc.flush();

    const first = await dlq('redrive', String(entry!.id), '--note', 'budget guard is back');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      new RegExp(`^redriven #${entry!.id} \\(redrive 1\\) to ${names.subjects.runRequest.build()}`),
    );
    await waitFor(
      async () => (await streamTypes(stack.pool, streamIds.run(runId))).includes('RunCompleted'),
      { timeoutMs: 30_000, description: 'the redriven run to complete' },
    );

    // Redriven again (an operator who was not sure): a no-op for the run.
    const second = await dlqJson<{ redriveCount: number; msgId: string }>(
      'redrive',
      String(entry!.id),
    );
    expect(second).toMatchObject({ redriveCount: 2, msgId: `redrive:${entry!.id}:2` });
    await waitFor(
      async () =>
        (
          await stack.pool.query('SELECT 1 FROM inbox WHERE consumer = $1 AND message_id = $2', [
            names.consumers.plannerIngress,
            `redrive:${entry!.id}:2`,
          ])
        ).rowCount === 1,
      { timeoutMs: 30_000, description: 'the planner to handle the second redrive' },
    );
    sub.unsubscribe();

    // Exactly once: one run, one tool call, one model call per step.
    const types = await streamTypes(stack.pool, streamIds.run(runId));
    expect(types.filter((t) => t === 'RunRequested')).toHaveLength(1);
    expect(types.filter((t) => t === 'RunCompleted')).toHaveLength(1);
    expect(types.filter((t) => t === 'ToolCallRequested')).toHaveLength(1);
    const { rows } = await stack.pool.query<{ type: string; n: number }>(
      `SELECT type, count(*)::int AS n FROM events
        WHERE metadata->>'correlationId' = $1 AND stream_id LIKE 'toolcall:%' GROUP BY type`,
      [runId],
    );
    expect(rows.find((r) => r.type === 'ToolCallSucceeded')?.n).toBe(1);
    expect(model.requests).toHaveLength(2); // the tool call, then the answer

    // The copies: the original payload and trace context, a new Nats-Msg-Id each.
    expect(copies).toHaveLength(2);
    expect(copies.map((m) => headersToRecord(m.headers)['Nats-Msg-Id'])).toEqual([
      `redrive:${entry!.id}:1`,
      `redrive:${entry!.id}:2`,
    ]);
    for (const m of copies) {
      expect(headersToRecord(m.headers).traceparent).toBe(TRACEPARENT);
      expect(JSONCodec().decode(m.data)).toEqual(request);
    }

    // The entry records what was done; the redrives dead-lettered nothing new.
    expect(
      (await dlqJson<ListedEntry[]>('list', '--status', 'redriven', '--run', runId))[0],
    ).toMatchObject({
      id: entry!.id,
      status: 'redriven',
      redriveCount: 2,
      resolvedBy: 'e2e-operator',
    });
    expect(
      (await deadLettersOf(stack, names.consumers.plannerIngress)).filter(
        (l) => l.code === 'HANDLER_FAILED',
      ),
    ).toHaveLength(1);
    expect((await dlqJson<ListedEntry[]>('list')).map((e) => e.id)).toEqual([schemaInvalidId]);
    await waitFor(async () => (await metricLine('HANDLER_FAILED')) === '0', {
      timeoutMs: 20_000,
      description: 'keel_dlq_depth{code="HANDLER_FAILED"} back to 0',
    });
  });
});

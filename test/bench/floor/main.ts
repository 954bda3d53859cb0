import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, request, Agent } from 'node:http';
import { join } from 'node:path';
import { AckPolicy, connect, type JsMsg, type NatsConnection } from 'nats';
import { Pool } from 'pg';
import { distribution } from '../distribution';
import { calibrate, REFERENCE_CALIBRATION, slowdown } from '../calibrate';
import { cpuSeconds, cpuSnapshot } from '../proc-stats';

/**
 * `npm run bench:floor` — the floor of Keel's architecture on this machine: the
 * same hops per tool round as agent-run-10, with no Keel code in them. Bare
 * Node processes stand in for the services:
 *
 *   planner ──HTTP──▶ model            (the model call)
 *   planner ──INSERT, COMMIT──▶ PostgreSQL (the decision recorded)
 *   planner ──JetStream──▶ tool         (plain publish; durable pull consumer)
 *   planner ──NATS request──▶ guard ──INSERT──▶ PostgreSQL ──reply──▶ planner (reservation, in parallel)
 *   tool ──INSERT, COMMIT──▶ PostgreSQL, ──JetStream──▶ planner (the outcome)
 *
 * One round = two steps (a decision and a tool call), one round at a time.
 * Prints the round latency, the per-step time and CPU of every process, and
 * writes bench/results/floor-<date>.json. No validation, tracing, state,
 * idempotency or retries: what is left is wake-ups, syscalls and commits.
 */
const ROOT = join(__dirname, '..', '..');
const NATS_URL = process.env['NATS_URL'] ?? '127.0.0.1:4222';
const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const PAYLOAD = JSON.stringify({ result: 'x'.repeat(180) }); // ~200 bytes, as agent-run-10

function pgPool(schema: string, max = 2): Pool {
  return new Pool({
    connectionString: DATABASE_URL,
    max,
    options: `-c search_path=${schema} -c synchronous_commit=on`,
  });
}

const insert = (pool: Pool, kind: string) =>
  pool.query({
    name: 'floor_insert',
    text: 'INSERT INTO floor_events (kind, data) VALUES ($1, $2::jsonb)',
    values: [kind, PAYLOAD],
  });

/** A durable pull consumer, handled one message at a time as it arrives. */
async function consume(
  nc: NatsConnection,
  stream: string,
  durable: string,
  onMsg: (m: JsMsg) => unknown,
): Promise<() => void> {
  const c = await nc.jetstream().consumers.get(stream, durable);
  const messages = await c.consume({ max_messages: 256 });
  void (async () => {
    for await (const m of messages) void onMsg(m);
  })();
  return () => void messages.stop();
}

/** A round's id travels in front of the payload: `<id>|<payload>`. */
const withId = (id: number) => `${id}|${PAYLOAD}`;
const idOf = (data: Uint8Array) =>
  Number(new TextDecoder().decode(data.subarray(0, 12)).split('|')[0]);

async function toolRole(prefix: string, stream: string, schema: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  const pool = pgPool(schema, 16);
  await consume(nc, stream, 'tool', async (m) => {
    await insert(pool, 'tool');
    nc.publish(`${prefix}.result`, m.data);
    m.ack();
  });
  console.log('ready');
}

async function guardRole(prefix: string, schema: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  const pool = pgPool(schema, 16);
  nc.subscribe(`${prefix}.reserve`, {
    callback: (_err, m) => {
      void insert(pool, 'reservation').then(() => m.respond(PAYLOAD));
    },
  });
  await nc.flush();
  console.log('ready');
}

function modelRole(): void {
  const body = JSON.stringify({ choices: [{ message: { content: 'x'.repeat(200) } }] });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    console.log(`ready ${typeof a === 'object' && a ? a.port : 0}`);
  });
}

function child(args: string[]): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(process.execPath, [__filename, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
    proc.stdout.setEncoding('utf8');
    proc.stdout.once('data', (line: string) => resolve({ proc, line: line.trim() }));
  });
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  // --in-flight N: N rounds at a time (the throughput shape); 1 = the sequential shape.
  const inFlight = arg('--in-flight', 1);
  // As many steps as the bench's phases: 1,000 rounds alone (its (a): 200 runs of 10 steps),
  // 10,000 under load (its (b): 2,000 runs). 1,000 rounds at 64 in flight last about a
  // second, most of it JIT warm-up: that measured half the floor's steady throughput.
  const rounds = arg('--rounds', inFlight > 1 ? 10_000 : 1_000);
  const tag = `floor${randomBytes(4).toString('hex')}`;
  const stream = tag.toUpperCase();
  const admin = new Pool({ connectionString: DATABASE_URL, max: 1 });
  await admin.query(`CREATE SCHEMA ${tag}`);
  await admin.query(
    `CREATE TABLE ${tag}.floor_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       kind text NOT NULL, data jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
  );
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({
    name: stream,
    subjects: [`${tag}.tool`, `${tag}.result`, `${tag}.calibration`],
  });
  for (const [durable, subject] of [
    ['tool', `${tag}.tool`],
    ['planner', `${tag}.result`],
  ] as const)
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      filter_subject: subject,
    });

  const spawned: ChildProcess[] = [];
  const closers: (() => unknown)[] = [];
  try {
    await measure();
  } finally {
    // Best effort, also after a failure: no process, stream or schema is left behind.
    for (const c of spawned) c.kill('SIGTERM');
    for (const close of closers) await Promise.resolve(close()).catch(() => undefined);
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
    await admin.query(`DROP SCHEMA ${tag} CASCADE`);
    await admin.end();
  }

  async function measure(): Promise<void> {
    const calPool = pgPool(tag, 1);
    const calibration = await calibrate(
      calPool,
      'calibration',
      nc.jetstream(),
      `${tag}.calibration`,
    );
    await calPool.end();
    const children = await Promise.all([
      child(['tool', tag, stream, tag]),
      child(['guard', tag, tag]),
      child(['model']),
    ]);
    spawned.push(...children.map((c) => c.proc));
    const [tool, guard, model] = children;
    const port = Number(model.line.split(' ')[1]);
    const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
    const pool = pgPool(tag, Math.min(inFlight, 16));
    closers.push(
      () => agent.destroy(),
      () => pool.end(),
    );

    const waiting = new Map<number, () => void>();
    closers.unshift(
      await consume(nc, stream, 'planner', (m) => {
        m.ack();
        const id = idOf(m.data);
        waiting.get(id)?.();
        waiting.delete(id);
      }),
    );
    const modelCall = () =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', agent },
          (res) => {
            res.on('data', () => undefined);
            res.on('end', () => resolve());
          },
        );
        req.on('error', reject);
        req.setHeader('content-type', 'application/json');
        req.end(PAYLOAD);
      });
    let nextId = 0;
    const round = async () => {
      const id = nextId++;
      await modelCall();
      await insert(pool, 'decision');
      const result = new Promise<void>((r) => waiting.set(id, r));
      nc.publish(`${tag}.tool`, withId(id));
      const reserved = nc.request(`${tag}.reserve`, PAYLOAD, { timeout: 5000 });
      await Promise.all([result, reserved]);
    };

    const runAll = async (n: number, onDone?: (ms: number) => void) => {
      let started = 0;
      await Promise.all(
        Array.from({ length: Math.min(inFlight, n) }, async () => {
          while (started < n) {
            started++;
            const t0 = performance.now();
            await round();
            onDone?.(performance.now() - t0);
          }
        }),
      );
    };
    await runAll(Math.max(200, inFlight * 4)); // warm-up
    const pids = new Map([
      ['tool', tool.proc.pid!],
      ['guard', guard.proc.pid!],
      ['model', model.proc.pid!],
    ]);
    const snapshot = (): Record<string, number> => ({
      ...cpuSnapshot(pids),
      planner: cpuSeconds(process.pid),
    });
    const before = snapshot();
    const samples: number[] = [];
    const t0 = performance.now();
    await runAll(rounds, (ms) => samples.push(ms));
    const durationS = (performance.now() - t0) / 1000;
    const after = snapshot();
    const steps = rounds * 2;
    const cpuMsPerStep = Object.fromEntries(
      Object.keys(after).map((k) => [
        k,
        Math.round((((after[k] ?? 0) - (before[k] ?? 0)) / steps) * 1e6) / 1000,
      ]),
    );
    const round3 = (n: number) => Math.round(n * 1000) / 1000;
    const d = distribution(samples);
    const results = {
      workload: 'floor: agent-run-10 hops without Keel code',
      startedAt: new Date().toISOString(),
      calibration,
      rounds,
      inFlight,
      stepsPerS: Math.round(steps / durationS),
      roundLatencyMs: d,
      stepMs: { p50: round3(d.p50 / 2), p99: round3(d.p99 / 2) },
      cpuMsPerStep,
      cpuMsPerStepTotal: round3(Object.values(cpuMsPerStep).reduce((a, b) => a + b, 0)),
    };
    console.log(
      `\nFloor of the architecture: ${rounds} rounds (= ${steps} steps), ${inFlight} in flight`,
    );
    console.log(`steps/s                        ${results.stepsPerS}`);
    console.log(
      `this machine now: ${calibration.pgCommitsPerS} PostgreSQL commits/s (1 client; issue 3: ${REFERENCE_CALIBRATION.pgCommitsPerS}), ` +
        `${calibration.jetStreamPublishAcksPerS} JetStream publish+acks/s (1 in flight; issue 3: ${REFERENCE_CALIBRATION.jetStreamPublishAcksPerS}): ` +
        `${slowdown(calibration)}× slower than when the peers were measured`,
    );
    console.log(`round p50 / p99 (ms)           ${d.p50.toFixed(2)} / ${d.p99.toFixed(2)}`);
    console.log(
      `per step p50 / p99 (ms)        ${results.stepMs.p50.toFixed(2)} / ${results.stepMs.p99.toFixed(2)}`,
    );
    console.log(`CPU ms per step, all processes ${results.cpuMsPerStepTotal.toFixed(2)}`);
    for (const [k, v] of Object.entries(cpuMsPerStep))
      console.log(`  ${k.padEnd(28)} ${v.toFixed(3)}`);
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `floor-${results.startedAt.replace(/[:.]/g, '-').slice(0, 19)}Z.json`);
    writeFileSync(file, JSON.stringify(results, null, 2));
    console.log(`\nwrote ${file}`);
  }
}

const [role, ...rest] = process.argv.slice(2);
if (role === 'tool' || role === 'guard' || role === 'model')
  process.on('SIGTERM', () => process.exit(0));
const fail = (err: unknown) => {
  console.error(err);
  process.exit(1);
};
if (role === 'tool') toolRole(rest[0]!, rest[1]!, rest[2]!).catch(fail);
else if (role === 'guard') guardRole(rest[0]!, rest[1]!).catch(fail);
else if (role === 'model') modelRole();
else main().catch(fail);

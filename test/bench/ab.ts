import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchResults } from './results';
import { alignColumns } from './report/render-table';

/**
 * `npm run bench:ab -- [--base REF] [--pairs N] [--b-env K=V] [--b-node-arg F] [--smoke]` —
 * the working tree (B) against REF (A, default HEAD) measured side by side: both benches run
 * at the same time, each with its own stack on the same NATS, PostgreSQL and two vCPUs.
 *
 * Why side by side: this machine kind's speed drifts by ±15 % from one minute to the next,
 * so two benches run one after the other differ by more than most changes do. Run together,
 * both sides meet the same drift and the same contention; a side-by-side A/A measured the
 * four services' CPU per step within 2.5 % of each other (docs/performance.md). What
 * compares is each side's own processes: the four services' CPU per step under load, their
 * CPU per sequential step, latency and throughput. NATS's and PostgreSQL's CPU cannot be
 * split between the sides and are not shown; absolute figures are those of a machine
 * running two stacks, so they compare with each other only, never with the peers.
 *
 * `--b-env` / `--b-node-arg` (repeatable) go to the B side only: with REF = HEAD and a clean
 * tree they A/B a setting on the same code. REF is built in `$TMPDIR/keel-ab/<sha>` (a git worktree
 * sharing node_modules when its lockfile is the same, `npm ci` there otherwise). Writes
 * bench/results/ab-<timestamp>.json.
 */
const ROOT = join(__dirname, '..', '..');
const SERVICES = ['planner', 'tool-executor', 'budget-guard', 'outbox'] as const;

interface Side {
  readonly dir: string;
  readonly args: string[];
}

interface Figures {
  readonly stepP50Ms: number;
  readonly stepP99Ms: number;
  readonly seqCpuMsPerStep: number;
  readonly stepsPerS: number;
  readonly serviceCpuMsPerStep: number;
  readonly byService: Record<string, number>;
  readonly results: string;
}

function git(args: string[], cwd = ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
}

/** A built checkout of `ref` under .keel/ab. */
function prepareBase(ref: string): string {
  const sha = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  // Outside the repository: nx, eslint and jest would otherwise find its projects and tests.
  const dir = join(tmpdir(), 'keel-ab', sha.slice(0, 12));
  if (!existsSync(dir)) {
    mkdirSync(join(tmpdir(), 'keel-ab'), { recursive: true });
    git(['worktree', 'prune']); // forget worktrees whose folders a tmp cleaner removed
    git(['worktree', 'add', '--detach', dir, sha]);
    const sameLock =
      git(['diff', sha, '--', 'package-lock.json']) === '' &&
      existsSync(join(ROOT, 'node_modules'));
    if (sameLock) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    else execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
  }
  execFileSync('node', ['infra/build/bundle.mjs'], { cwd: dir, stdio: 'inherit' });
  return dir;
}

/** Runs one bench in `side.dir`; resolves with the path of the results it wrote. */
function runBench(side: Side, label: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['dist/bench/main.js', '--no-floor', ...side.args], {
      cwd: side.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const written = /wrote (\S+\.json)/.exec(out)?.[1];
      if (code === 0 && written) resolve(written);
      else reject(new Error(`${label} bench exited with ${code}:\n${out.slice(-3000)}`));
    });
  });
}

function figures(path: string): Figures {
  const r = JSON.parse(readFileSync(path, 'utf8')) as BenchResults;
  if (!r.sequential || !r.throughput || !r.cost) throw new Error(`${path}: phases missing`);
  const k = r.cost.steps / 1000;
  const byService = Object.fromEntries(
    SERVICES.map((s) => [s, (r.cost!.cpuSecondsByProcess[s] ?? 0) / k]),
  );
  const seq = r.sequential.cpuMsPerStepByProcess ?? {};
  return {
    stepP50Ms: r.sequential.stepOverheadMs.p50,
    stepP99Ms: r.sequential.stepOverheadMs.p99,
    seqCpuMsPerStep: SERVICES.reduce((sum, s) => sum + (seq[s] ?? 0), 0),
    stepsPerS: r.throughput.stepsPerS,
    serviceCpuMsPerStep: Object.values(byService).reduce((a, b) => a + b, 0),
    byService,
    results: path,
  };
}

/** Interpolated for an even count (two pairs: their mean), unlike `distribution`'s nearest rank. */
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const COLUMNS: [string, (f: Figures) => number, number][] = [
  ['step p50 (ms)', (f) => f.stepP50Ms, 2],
  ['step p99 (ms)', (f) => f.stepP99Ms, 2],
  ['services CPU ms/step, alone', (f) => f.seqCpuMsPerStep, 2],
  ['steps/s', (f) => f.stepsPerS, 0],
  ['services CPU ms/step, loaded', (f) => f.serviceCpuMsPerStep, 3],
  ...SERVICES.map((s): [string, (f: Figures) => number, number] => [
    `  ${s}`,
    (f) => f.byService[s] ?? 0,
    3,
  ]),
];

async function main(argv: string[]): Promise<void> {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const many = (name: string, as: string) =>
    argv.flatMap((a, i) => (a === name && argv[i + 1] ? [as, argv[i + 1]!] : []));
  const ref = value('--base') ?? 'HEAD';
  const pairs = Number(value('--pairs') ?? 2);
  if (!Number.isInteger(pairs) || pairs < 1) throw new Error('--pairs must be a positive integer');
  const common = argv.includes('--smoke') ? ['--smoke'] : [];
  const a: Side = { dir: prepareBase(ref), args: common };
  const b: Side = {
    dir: ROOT,
    args: [...common, ...many('--b-env', '--env'), ...many('--b-node-arg', '--node-arg')],
  };
  const bOnly = b.args.slice(common.length);
  console.log(
    `A = ${ref} (${a.dir}); B = this tree${bOnly.length ? ` with ${bOnly.join(' ')}` : ''}`,
  );
  const runs: { a: Figures; b: Figures }[] = [];
  for (let i = 1; i <= pairs; i++) {
    console.log(`[ab] pair ${i} of ${pairs}: both benches at once`);
    const [pa, pb] = await Promise.all([runBench(a, 'A'), runBench(b, 'B')]);
    runs.push({ a: figures(pa), b: figures(pb) });
  }
  const rows = COLUMNS.map(([name, get, digits]) => {
    const as = runs.map((r) => get(r.a));
    const bs = runs.map((r) => get(r.b));
    const ratio = median(bs) / median(as);
    return [
      name,
      as.map((x) => x.toFixed(digits)).join(' / '),
      bs.map((x) => x.toFixed(digits)).join(' / '),
      Number.isFinite(ratio) ? `${((ratio - 1) * 100).toFixed(1)} %` : '—',
    ];
  });
  console.log(`\n${alignColumns(['measure (each pair)', 'A', 'B', 'B vs A (medians)'], rows)}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const out = join(ROOT, 'bench', 'results', `ab-${stamp}Z.json`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(out, JSON.stringify({ base: ref, bArgs: b.args, pairs: runs }, null, 2));
  console.log(`\nwrote ${out}`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

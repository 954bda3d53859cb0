import { up } from './commands/up';
import { modelServer } from './commands/model-server';
import { provision } from './commands/provision';
import { dlq, DLQ_USAGE } from './commands/dlq';
import { runs, RUNS_USAGE } from './commands/runs';
import { projections, PROJECTIONS_USAGE } from './commands/projections';
import { apiKeys, API_KEYS_USAGE } from './commands/api-keys';
import { run, RUN_USAGE } from './commands/run';
import { replay, REPLAY_USAGE } from './commands/replay';
import { traceCommand, TRACE_USAGE } from './commands/trace';
import { streamReplay, STREAM_REPLAY_USAGE } from './commands/stream-replay';

/**
 * `keel` — the operator's command line.
 *   keel up [--no-demo]        start the platform locally and run a demo run (npm start)
 *   keel model-server --port N serve the scripted OpenAI-compatible model (offline demo)
 *   keel provision             declare streams and durable consumers (NATS admin user)
 *   keel dlq list|show|redrive|discard   operate the dead-letter queue (docs/dlq-runbook.md)
 *   keel run | replay | trace | stream-replay   start and follow a run; read its history (docs/operators-guide.md)
 */
const USAGE = `usage: keel <command>
  up [--no-demo]           start NATS/PostgreSQL if needed, the four services, and a demo run
  model-server [--port N] [--script demo|agent-run-10] [--host H]
                           serve a scripted OpenAI-compatible model (the demo's, or the benchmark's)
  provision                declare NATS streams and durable consumers (run as the NATS admin user)
  dlq <command>            operate the dead-letter queue: list, show, redrive, discard (keel dlq help)
  runs list|show           find a run and read its timeline (keel runs help)
  projections rebuild      refold the run read model from the event log
  api-keys create          issue an API key for a tenant (the HTTP API, docs/api.md)
  run --goal TEXT …        publish a run request and follow the run live (keel run --help)
  replay <run-id> …        rebuild a run's state from its log; --to N, --diff, --check (CI gate)
  trace <run-id>           the run's Jaeger link
  stream-replay …          print the events stream from a sequence or a time (ephemeral consumer)

${DLQ_USAGE.replace(/^usage: /, '')}

${[RUNS_USAGE, PROJECTIONS_USAGE, API_KEYS_USAGE].map((u) => u.replace(/^usage: /, '')).join('\n\n')}

${[RUN_USAGE, REPLAY_USAGE, TRACE_USAGE, STREAM_REPLAY_USAGE].map((u) => u.replace(/^usage: /, '')).join('\n\n')}`;

const cliIo = {
  out: (line: string) => console.log(line),
  err: (line: string) => console.error(line),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'up':
      return up({ demo: !rest.includes('--no-demo'), env: process.env });
    case 'provision':
      return provision(process.env, (line) => console.log(line));
    case 'dlq':
      return dlq(rest, process.env, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
      });
    case 'run':
      return run(rest, process.env, cliIo);
    case 'replay':
      return replay(rest, process.env, cliIo);
    case 'trace':
      return traceCommand(rest, process.env, cliIo);
    case 'stream-replay':
      return streamReplay(rest, process.env, cliIo);
    case 'runs':
      return runs(rest, process.env, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
      });
    case 'projections':
      return projections(rest, process.env, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
      });
    case 'api-keys':
      return apiKeys(rest, process.env, {
        out: (line) => console.log(line),
        err: (line) => console.error(line),
      });
    case 'model-server': {
      const opt = (name: string, fallback: string) => {
        const i = rest.indexOf(name);
        return i >= 0 ? (rest[i + 1] ?? fallback) : fallback;
      };
      return modelServer({
        port: Number(opt('--port', '8080')),
        script: opt('--script', 'demo'),
        host: opt('--host', '0.0.0.0'),
      });
    }
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return 0;
    default:
      console.error(`keel: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`keel: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);

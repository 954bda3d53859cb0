import {
  AckPolicy,
  DeliverPolicy,
  JSONCodec,
  nanos,
  ReplayPolicy,
  type ConsumerConfig,
  type JsMsg,
} from 'nats';
import { keelNames, RelayedEvent, uuidv7 } from '@keel/contracts';
import { intOption, parseArgs, UsageError } from '../cli-kit/args';
import { cliConfig, withNats } from '../cli-kit/connections';
import { runCommand, type CliIo } from '../cli-kit/io';

export const STREAM_REPLAY_USAGE = `usage: keel stream-replay (--from-seq N | --since ISO-TIME) [--subject FILTER | --run RUN_ID]
                          [--limit N] [--json]
  prints the events stream's messages (seq, time, subject, type, run) from a sequence or a time,
  through an ephemeral consumer it deletes afterwards; durable consumers are never touched.
  --limit caps the messages printed (default 10000)`;

const codec = JSONCodec();

/** What one replayed message is, as printed. */
export interface ReplayedMessage {
  readonly seq: number;
  readonly time: string;
  readonly subject: string;
  readonly type: string;
  readonly runId: string;
}

/**
 * `keel stream-replay`: read the JetStream events stream from a point, for an
 * operator (what was published, in stream order) — with an ephemeral consumer
 * (no durable name, ack none, memory storage, server-side inactivity cleanup
 * as a safety net) created for this command and deleted when it ends. The
 * production durables' state is never read or changed.
 */
export async function streamReplay(
  args: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
): Promise<number> {
  return runCommand('keel stream-replay', STREAM_REPLAY_USAGE, io, async () => {
    const a = parseArgs(
      args,
      ['--from-seq', '--since', '--subject', '--run', '--limit'],
      ['--json'],
    );
    if (a.positional.length > 0) throw new UsageError(`unexpected argument '${a.positional[0]}'`);
    const fromSeq = intOption(a, '--from-seq', 1, Number.MAX_SAFE_INTEGER);
    const since = a.options.get('--since');
    if ((fromSeq === undefined) === (since === undefined))
      throw new UsageError('give exactly one of --from-seq N and --since ISO-TIME');
    if (since !== undefined && Number.isNaN(Date.parse(since)))
      throw new UsageError(
        `--since must be an ISO time, e.g. 2026-11-21T10:00:00Z, got '${since}'`,
      );
    if (a.options.has('--subject') && a.options.has('--run'))
      throw new UsageError('give --subject or --run, not both');
    const limit = intOption(a, '--limit', 1, 1_000_000) ?? 10_000;
    const json = a.flags.has('--json');
    const names = keelNames(cliConfig(env).KEEL_PREFIX);
    const runId = a.options.get('--run');
    const filter = runId
      ? names.subjects.eventsOfRun.pattern(runId)
      : (a.options.get('--subject') ?? names.subjects.event.pattern);
    const stream = names.streams.events;
    const config: Partial<ConsumerConfig> = {
      name: `keel-stream-replay-${uuidv7()}`,
      ack_policy: AckPolicy.None,
      replay_policy: ReplayPolicy.Instant,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(60_000),
      filter_subject: filter,
      ...(fromSeq !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq }
        : {
            deliver_policy: DeliverPolicy.StartTime,
            opt_start_time: new Date(since!).toISOString(),
          }),
    };
    return await withNats(env, 'keel-stream-replay', async (nc) => {
      const jsm = await nc.jetstreamManager();
      const sinceMs = since === undefined ? undefined : Date.parse(since);
      // A start time after the last message: nothing to print (some servers would start
      // the consumer at the beginning of the stream instead).
      const last = (await jsm.streams.info(stream)).state;
      if (sinceMs !== undefined && (last.messages === 0 || Date.parse(last.last_ts) < sinceMs)) {
        if (!json) io.err(`0 messages from ${stream} (${filter})`);
        return 0;
      }
      const info = await jsm.consumers.add(stream, config);
      try {
        // Up to what the stream holds: each message says how many matching ones remain after
        // it (later messages are not waited for); an empty fetch means nothing (more) matches.
        const consumer = await nc.jetstream().consumers.get(stream, info.name);
        let printed = 0;
        let caughtUp = false;
        while (!caughtUp && printed < limit) {
          const batch = await consumer.fetch({
            max_messages: Math.min(limit - printed, 256),
            expires: 2_000,
          });
          let got = 0;
          for await (const m of batch) {
            got++;
            caughtUp = m.info.pending === 0;
            // Defensive: never print a message older than --since.
            if (sinceMs === undefined || Math.floor(m.info.timestampNanos / 1e6) >= sinceMs) {
              const r = describe(m);
              io.out(
                json
                  ? JSON.stringify(r)
                  : `${String(r.seq).padStart(8)}  ${r.time}  ${r.type.padEnd(24)} ${r.runId}  ${r.subject}`,
              );
              printed++;
            }
            if (printed >= limit || caughtUp) break;
          }
          if (got === 0) break;
        }
        if (!json)
          io.err(`${printed} message${printed === 1 ? '' : 's'} from ${stream} (${filter})`);
        return 0;
      } finally {
        await jsm.consumers.delete(stream, info.name).catch(() => undefined);
      }
    });
  });
}

function describe(m: JsMsg): ReplayedMessage {
  // Subjects are <prefix>.evt.<aggregate>.<route>.<type>.<runId>: the fallback when the body is not an event.
  const tokens = m.subject.split('.');
  let type = tokens.at(-2) ?? '?';
  let runId = tokens.at(-1) ?? '?';
  try {
    const e = RelayedEvent.parse(codec.decode(m.data));
    type = e.type;
    runId = e.metadata.correlationId;
  } catch {
    // keep the subject's tokens
  }
  return {
    seq: m.seq,
    time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(),
    subject: m.subject,
    type,
    runId,
  };
}

import { connect, JSONCodec } from 'nats';
import { keelNames, RelayedEvent, runIdFor, type RunRequestInput } from '@keel/contracts';
import type { OtlpReceiver } from '@keel/testing';
import { DEMO_PROMPT } from '../demo-script';
import { publishRunRequest, RUN_ENDINGS } from '../follow/run-ingress';

const json = JSONCodec();

/**
 * Publish a run request the way an upstream system would (JetStream, Msg-Id =
 * request id) and print the run's events live as the relay publishes them.
 */
export async function demoRun(opts: {
  natsUrl: string;
  prefix: string;
  otlp?: OtlpReceiver;
  jaegerUi?: string;
  out: (line: string) => void;
  timeoutMs?: number;
}): Promise<{ ok: boolean; runId: string }> {
  const { out } = opts;
  const names = keelNames(opts.prefix);
  const nc = await connect({ servers: opts.natsUrl, name: 'keel-cli-demo' });
  try {
    const request: RunRequestInput = {
      requestId: `demo-${new Date().toISOString()}`,
      tenant: 'demo',
      input: { prompt: DEMO_PROMPT },
      tools: ['calculator'],
    };
    const runId = runIdFor(request.tenant, request.requestId);
    const sub = nc.subscribe(names.subjects.eventsOfRun.pattern(runId));
    out(`\n▶ demo run ${runId}`);
    out(`  prompt: ${request.input.prompt}\n`);
    await publishRunRequest(nc, names, request);
    const started = Date.now();

    const timer = setTimeout(() => sub.unsubscribe(), opts.timeoutMs ?? 60_000);
    // Events reach NATS from their writers right after each commit (the fast path),
    // so not in log order across streams; the relay adds any that went missing, and a
    // copy seen twice is shown once. Show them in log order after a short reorder window.
    const view = new RunView((e) => {
      const t = `+${String(Date.parse(e.recordedAt) - started).padStart(5)} ms`;
      const producer = (e.metadata.producer ?? '?').padEnd(13);
      out(
        `  ${t}  ${producer} ${e.streamId.split(':')[0]!.padEnd(9)} ${e.type.padEnd(22)} ${summary(e)}`,
      );
    });
    let result: { ok: boolean; traceId?: string } = { ok: false };
    let end: RelayedEvent | undefined;
    for await (const m of sub) {
      const e = RelayedEvent.parse(json.decode(m.data));
      view.add(e);
      result.traceId ??= e.metadata.traceparent?.split('-')[1];
      if (RUN_ENDINGS.has(e.type)) {
        end = e;
        // Let the relay deliver the other streams' events committed before the end.
        setTimeout(() => sub.unsubscribe(), 400);
      }
    }
    view.flush();
    if (end) {
      result = { ...result, ok: end.type === 'RunCompleted' };
      const d = end.data as {
        answer?: string;
        error?: { code: string; message: string };
        reason?: { code: string; message: string } | string;
      };
      const why = d.error ?? (typeof d.reason === 'object' ? d.reason : undefined);
      out(
        end.type === 'RunCompleted'
          ? `\n✔ result: ${d.answer}`
          : `\n✘ ${end.type}: ${why ? `${why.code} ${why.message}` : typeof d.reason === 'string' ? d.reason : ''}`,
      );
    }
    clearTimeout(timer);
    if (result.traceId) {
      out(`  trace id: ${result.traceId}`);
      if (opts.jaegerUi) out(`  Jaeger:   ${opts.jaegerUi}/trace/${result.traceId}`);
      if (opts.otlp) await printTrace(opts.otlp, result.traceId, out);
    }
    if (!result.ok && Date.now() - started >= (opts.timeoutMs ?? 60_000))
      out('\n✘ the demo run did not finish in time');
    return { ok: result.ok, runId };
  } finally {
    await nc.close();
  }
}

function summary(e: RelayedEvent): string {
  const d = e.data as Record<string, unknown>;
  switch (e.type) {
    case 'ModelDecisionRecorded': {
      const u = d.usage as { inputTokens: number; outputTokens: number };
      const decision = d.decision as {
        kind: string;
        calls?: { tool: string }[];
        confidence?: number | null;
      };
      const what =
        decision.kind === 'tool_calls'
          ? `call ${decision.calls?.map((c) => c.tool).join(', ')}`
          : decision.kind === 'final'
            ? 'final answer'
            : 'ask a person';
      const sure =
        typeof decision.confidence === 'number' ? `, confidence ${decision.confidence}` : '';
      return `step ${String(d.step)}: ${what} (${u.inputTokens}+${u.outputTokens} tokens${sure})`;
    }
    case 'ModelCallFailed':
      return `step ${String(d.step)} attempt ${String(d.attempt)}: ${String(d.code)}${typeof d.retryInMs === 'number' ? `, retry in ${d.retryInMs} ms` : ''}`;
    case 'ModelOutputRejected':
      return `step ${String(d.step)} attempt ${String(d.attempt)}: ${(d.issues as string[]).length} issue(s), re-prompting`;
    case 'HumanReviewRequested':
      return `step ${String(d.step)}: ${String(d.reason)} — ${String(d.detail)}`;
    case 'ToolCallRequested':
      return `${String(d.tool)} ${JSON.stringify(d.input)} → pool ${String(d.pool)}`;
    case 'ToolCallSucceeded':
      return `${String(d.tool)} → ${JSON.stringify(d.output)}`;
    case 'BudgetReserved':
      return `${String(d.tokens)} tokens (${String(d.committedTokens)}/${String(d.limitTokens)} committed)`;
    case 'BudgetSettled': {
      const u = d.usage as { inputTokens: number; outputTokens: number };
      return `actual ${u.inputTokens + u.outputTokens} tokens`;
    }
    default:
      return '';
  }
}

async function printTrace(
  otlp: OtlpReceiver,
  traceId: string,
  out: (line: string) => void,
): Promise<void> {
  await new Promise((r) => setTimeout(r, 1500)); // let the services' batch exporters flush
  const spans = otlp.spans().filter((s) => s.traceId === traceId);
  const byService = new Map<string, number>();
  for (const s of spans) byService.set(s.service, (byService.get(s.service) ?? 0) + 1);
  out(
    `  spans:    ${spans.length} in one trace — ${[...byService].map(([s, n]) => `${s} ${n}`).join(', ')}`,
  );
}

/** Prints each event once, in log (global position) order, holding arrivals for a short window. */
/** How long an event waits for earlier ones of other streams (each writer publishes as it commits). */
const REORDER_WINDOW_MS = 150;

class RunView {
  private readonly seen = new Set<string>();
  private buffer: { e: RelayedEvent; at: number }[] = [];
  private readonly timer = setInterval(() => this.emit(Date.now() - REORDER_WINDOW_MS), 50);

  constructor(private readonly print: (e: RelayedEvent) => void) {}

  add(e: RelayedEvent): void {
    if (this.seen.has(e.metadata.eventId)) return;
    this.seen.add(e.metadata.eventId);
    this.buffer.push({ e, at: Date.now() });
  }

  flush(): void {
    clearInterval(this.timer);
    this.emit(Infinity);
  }

  private emit(before: number): void {
    const ready = this.buffer.filter((b) => b.at <= before);
    if (ready.length === 0) return;
    this.buffer = this.buffer.filter((b) => b.at > before);
    ready.sort((x, y) => Number(BigInt(x.e.globalPosition) - BigInt(y.e.globalPosition)));
    for (const { e } of ready) this.print(e);
  }
}

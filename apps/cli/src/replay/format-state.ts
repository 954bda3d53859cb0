import type { RunEvent } from '@keel/contracts';
import type { Divergence, FieldChange, HistoryEntry, RunState } from '@keel/run-domain';

/** Human-readable views of a replayed run: its state, each event's changes, a divergence. */

const clip = (s: string, n = 100) => {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
};
const show = (v: unknown) => (v === undefined ? '∅' : clip(JSON.stringify(v)));

export function formatState(state: RunState): string[] {
  if (state.status === 'none') return ['  status       none (no events)'];
  const s = state;
  const tokens = s.usage.inputTokens + s.usage.outputTokens;
  const rows: [string, string][] = [
    ['status', s.status],
    ['tenant', s.tenant],
    ['request', s.requestId],
    ['prompt', clip(s.prompt)],
    ['tools', s.tools.join(', ') || '(none)'],
    ['step', `${s.step} of max ${s.limits.maxSteps}`],
    ['tool calls', `${s.toolCalls} of max ${s.limits.maxToolCalls}`],
    [
      'tokens',
      `${tokens} (in ${s.usage.inputTokens}, out ${s.usage.outputTokens}) of max ${s.limits.maxTokens}`,
    ],
    ['cost limit', s.limits.maxCostUsd === undefined ? 'none' : `$${s.limits.maxCostUsd}`],
    ['deadline', s.limits.deadlineAt],
  ];
  if (s.synthesis) rows.push(['synthesis', s.synthesis]);
  if (s.attempts.failures || s.attempts.rejected.length)
    rows.push([
      'attempts',
      `${s.attempts.failures} failed, ${s.attempts.rejected.length} rejected this step`,
    ]);
  switch (s.status) {
    case 'awaiting_tools':
      rows.push(['pending', s.pending.map((p) => `${p.tool} (${p.callId})`).join(', ')]);
      if (s.final) rows.push(['final round', 'yes']);
      break;
    case 'awaiting_human':
      rows.push(['review', `step ${s.review.step}: ${s.review.reason}`]);
      break;
    case 'completed':
      rows.push(['answer', clip(s.answer, 400)]);
      break;
    case 'degraded':
      rows.push(
        ['reason', `${s.reason.code} ${s.reason.message}`],
        ['answer', clip(s.answer, 400)],
      );
      break;
    case 'failed':
      rows.push(['error', `${s.error.code} ${s.error.message}`]);
      break;
    case 'cancelled':
      rows.push(['reason', s.reason]);
      break;
    default:
      break;
  }
  return [
    ...rows.map(([k, v]) => `  ${k.padEnd(12)} ${v}`),
    `  history      ${s.history.length === 0 ? '(empty)' : ''}`,
    ...s.history.map((h) => `    ${historyLine(h)}`),
  ];
}

function historyLine(h: HistoryEntry): string {
  switch (h.kind) {
    case 'decision': {
      const d = h.decision;
      const what =
        d.kind === 'tool_calls'
          ? `call ${d.calls.map((c) => `${c.tool} ${JSON.stringify(c.input)}`).join(', ')}${d.final ? ' (final)' : ''}`
          : d.kind === 'final'
            ? `answer ${JSON.stringify(d.answer)}`
            : `ask a person: ${d.question}`;
      const sure = d.confidence === null ? '' : `, confidence ${d.confidence}`;
      return clip(`step ${h.step} decision by ${h.model}: ${what}${sure}`, 160);
    }
    case 'tool_result':
      return clip(
        `tool ${h.tool} ${h.outcome.ok ? `ok ${JSON.stringify(h.outcome.output)}` : `failed ${h.outcome.error.code}`}`,
        160,
      );
    case 'review':
      return `step ${h.step} review ${h.decision}${h.changes ? ` ${JSON.stringify(h.changes)}` : ''}`;
  }
}

export const formatChange = (c: FieldChange) => `  ${c.path}: ${show(c.before)} → ${show(c.after)}`;

const eventLine = (e: RunEvent | null) =>
  e === null ? '(nothing)' : `${e.type} ${clip(JSON.stringify(e.data), 300)}`;

export function formatDivergence(d: Divergence): string[] {
  return [
    `✘ diverged at event ${d.eventNumber}: ${d.why}`,
    `  recorded: ${eventLine(d.recorded)}`,
    `  expected: ${eventLine(d.expected)}`,
    ...(d.changes.length > 0
      ? ['  fields (expected → recorded):', ...d.changes.map((c) => `  ${formatChange(c)}`)]
      : []),
  ];
}

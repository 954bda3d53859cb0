import type { Aggregate } from './names';

/** Stream ids are `<aggregate>:<id>`; the aggregate decides the event subject. */
export const streamIds = {
  run: (runId: string) => `run:${runId}`,
  toolCall: (callId: string) => `toolcall:${callId}`,
  budget: (runId: string) => `budget:${runId}`,
  delivery: (deliveryId: string) => `delivery:${deliveryId}`,
  /** A run's compensations (its saga), written by the tool executor. */
  compensation: (runId: string) => `compensation:${runId}`,
} as const;

export function aggregateOf(streamId: string): Aggregate {
  const kind = streamId.slice(0, streamId.indexOf(':'));
  switch (kind) {
    case 'run':
    case 'toolcall':
    case 'budget':
    case 'delivery':
    case 'compensation':
      return kind;
    default:
      throw new Error(`unknown stream category in '${streamId}'`);
  }
}

import type { CompensationEvent } from '@keel/contracts';

/** A run's saga so far (`compensation:<runId>`). Pure. */
export interface SagaState {
  readonly started: boolean;
  readonly steps: readonly { callId: string; tool: string; compensatingTool: string }[];
  /** Steps with an outcome (succeeded or failed), by call id. */
  readonly settled: ReadonlySet<string>;
  readonly failed: number;
  readonly finished: boolean;
}

export const initialSagaState = (): SagaState => ({
  started: false,
  steps: [],
  settled: new Set(),
  failed: 0,
  finished: false,
});

export function evolveSaga(state: SagaState, event: CompensationEvent): SagaState {
  switch (event.type) {
    case 'CompensationStarted':
      return { ...state, started: true, steps: event.data.steps };
    case 'CompensationSucceeded':
      return { ...state, settled: new Set([...state.settled, event.data.callId]) };
    case 'CompensationFailed':
      return {
        ...state,
        settled: new Set([...state.settled, event.data.callId]),
        failed: state.failed + 1,
      };
    case 'CompensationFinished':
      return { ...state, finished: true };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

import type { ToolCallEvent } from '@keel/contracts';

/** What a tool call's stream (`toolcall:<callId>`) says so far. Pure. */
export interface CallState {
  /** Failed attempts recorded (`ToolCallAttemptFailed`). */
  readonly failedAttempts: number;
  /** The call has its outcome (succeeded, failed or rejected): nothing more to do. */
  readonly done: boolean;
}

export const initialCallState = (): CallState => ({ failedAttempts: 0, done: false });

export function evolveCall(state: CallState, event: ToolCallEvent): CallState {
  switch (event.type) {
    case 'ToolCallAttemptFailed':
      return { ...state, failedAttempts: state.failedAttempts + 1 };
    case 'ToolBreakerTransitioned':
      return state;
    case 'ToolCallSucceeded':
    case 'ToolCallFailed':
    case 'ToolCallRejected':
      return { ...state, done: true };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

import type { ToolCallEvent } from '@keel/contracts';
import type { AggregateSpec } from '@keel/runtime';
import { evolveCall, initialCallState, type CallState } from './call-state';

export const callAggregate: AggregateSpec<CallState, ToolCallEvent> = {
  initial: initialCallState,
  evolve: evolveCall,
};

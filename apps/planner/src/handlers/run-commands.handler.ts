import type { CancelRunCommand, ReviewDecisionCommand, RunCommandReply } from '@keel/contracts';
import { decideCancel, decideReview } from '@keel/run-domain';
import { withLogContext } from '@keel/telemetry';
import type { ToolRegistry } from '@keel/tools';
import type { RunDriver } from '../run-driver';

/**
 * Operator commands (core NATS request/reply): a review decision or a cancel.
 * Each is decided from the run's recorded state and answered after its events
 * commit: `accepted`, or `refused` with a stable code (a decision for a run
 * that is not waiting, another tenant's run, ...). A bad request is answered
 * `BAD_REQUEST` with the zod issues by the server itself.
 *
 * A review that asks the model to plan again only records the decision here;
 * the planner's wake-up consumer picks the run up from the relayed event, so
 * the re-plan survives a crash right after this commit.
 */
export function runCommandHandlers(deps: { driver: RunDriver; tools: ToolRegistry }) {
  const poolOf = (t: string) => deps.tools.poolOf(t);
  return {
    review: (cmd: ReviewDecisionCommand): Promise<RunCommandReply> =>
      withLogContext({ runId: cmd.runId }, () =>
        deps.driver.command(cmd.runId, `review:${cmd.reviewId}`.slice(0, 200), (s) =>
          decideReview(s, cmd, poolOf),
        ),
      ),
    cancel: (cmd: CancelRunCommand): Promise<RunCommandReply> =>
      withLogContext({ runId: cmd.runId }, () =>
        deps.driver.command(cmd.runId, `cancel:${cmd.requestedBy}`.slice(0, 200), (s) =>
          decideCancel(s, cmd),
        ),
      ),
  };
}

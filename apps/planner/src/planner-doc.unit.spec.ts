import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderRunMachineMermaid } from '@keel/run-domain';

/** docs/planner.md shows the run state machine; it must be the one the code declares. */
describe('docs/planner.md', () => {
  it('holds the state diagram generated from RUN_TRANSITIONS', () => {
    const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'planner.md'), 'utf8');
    const block =
      /<!-- run-machine:begin -->\s*```mermaid\n([\s\S]*?)\n```\s*<!-- run-machine:end -->/.exec(
        doc,
      );
    expect(block?.[1]).toBe(renderRunMachineMermaid());
  });
});

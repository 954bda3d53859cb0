import { calculatorScript, type ModelScript } from '@keel/testing';

export const DEMO_PROMPT =
  'A crate holds 17 red and 25 blue marbles. How many marbles are in 3 crates?';

/** The offline demo's model: asks the calculator, then answers with its result. */
export const demoScript = (): ModelScript =>
  calculatorScript('(17 + 25) * 3', 'Three crates hold ');

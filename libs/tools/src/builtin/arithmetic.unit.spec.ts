import { ArithmeticError, evaluateArithmetic } from './arithmetic';

describe('evaluateArithmetic', () => {
  it.each([
    ['1 + 2', 3],
    ['(2 + 3) * 7', 35],
    ['2 ^ 3 ^ 2', 512],
    ['-4 + 10 / 4', -1.5],
    ['17 % 5', 2],
    ['1.5e2 - 50', 100],
  ])('%s = %d', (expr, value) => {
    expect(evaluateArithmetic(expr)).toBe(value);
  });

  it.each(['', '1 +', '2 * (3', 'process.exit()', '1 / 0', '3 3'])('rejects %j', (expr) => {
    expect(() => evaluateArithmetic(expr)).toThrow(ArithmeticError);
  });
});

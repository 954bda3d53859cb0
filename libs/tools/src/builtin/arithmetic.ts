/**
 * A small recursive-descent evaluator for arithmetic. Throws
 * `ArithmeticError` on anything that is not a well-formed expression or
 * whose result is not a finite number.
 */
export class ArithmeticError extends Error {
  override name = 'ArithmeticError';
  readonly code = 'INVALID_EXPRESSION';
}

export function evaluateArithmetic(source: string): number {
  const tokens = tokenize(source);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];

  const primary = (): number => {
    const t = next();
    if (t === undefined) throw new ArithmeticError('unexpected end of expression');
    if (t === '(') {
      const v = sum();
      if (next() !== ')') throw new ArithmeticError('missing )');
      return v;
    }
    if (t === '-') return -power();
    if (t === '+') return power();
    const n = Number(t);
    if (!Number.isFinite(n)) throw new ArithmeticError(`unexpected '${t}'`);
    return n;
  };
  const power = (): number => {
    const base = primary();
    if (peek() === '^') {
      next();
      return base ** power(); // right-associative
    }
    return base;
  };
  const product = (): number => {
    let v = power();
    for (let op = peek(); op === '*' || op === '/' || op === '%'; op = peek()) {
      next();
      const r = power();
      v = op === '*' ? v * r : op === '/' ? v / r : v % r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    for (let op = peek(); op === '+' || op === '-'; op = peek()) {
      next();
      const r = product();
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };

  const value = sum();
  if (i !== tokens.length) throw new ArithmeticError(`unexpected '${tokens[i]}'`);
  if (!Number.isFinite(value)) throw new ArithmeticError('result is not a finite number');
  return value;
}

function tokenize(source: string): string[] {
  const re = /\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?|[-+*/%^()])/giy;
  const out: string[] = [];
  let m: RegExpExecArray | null;
  while (re.lastIndex < source.length && (m = re.exec(source)) !== null) out.push(m[1]!);
  if (re.lastIndex < source.trimEnd().length) {
    throw new ArithmeticError(`unexpected character at ${re.lastIndex}`);
  }
  return out;
}

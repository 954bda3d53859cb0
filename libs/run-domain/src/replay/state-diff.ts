/** One changed field: its path (`usage.inputTokens`, `history[2]`) and its values before and after. */
export interface FieldChange {
  readonly path: string;
  /** `undefined` when the field did not exist before. */
  readonly before: unknown;
  /** `undefined` when the field no longer exists. */
  readonly after: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Field-level difference of two JSON-like values (states, events). Objects are
 * compared key by key, arrays index by index (an appended element is one
 * change), anything else by value. Pure; order: as the fields appear.
 */
export function diffValues(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (before === after) return [];
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => diffValues(before[k], after[k], path ? `${path}.${k}` : k));
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const n = Math.max(before.length, after.length);
    const out: FieldChange[] = [];
    for (let i = 0; i < n; i++) out.push(...diffValues(before[i], after[i], `${path}[${i}]`));
    return out;
  }
  if (canonicalJson(before) === canonicalJson(after)) return [];
  return [{ path: path || '(value)', before, after }];
}

/** JSON with object keys sorted and `undefined` fields dropped: equal values, equal text. */
export function canonicalJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) =>
      isRecord(v)
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, v[k]]),
          )
        : v,
    ) ?? 'undefined'
  );
}

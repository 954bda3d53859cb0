/**
 * Appends `items` to `list`, then drops the oldest entries beyond `keep`
 * (`Infinity`: keep everything; 0: keep nothing). What the local stand-ins
 * (scripted model, OTLP sink) record for tests stays bounded in a server
 * that runs for days.
 */
export function keepLast<T>(list: T[], keep: number, ...items: T[]): void {
  if (keep <= 0) return;
  list.push(...items);
  if (list.length > keep) list.splice(0, list.length - keep);
}

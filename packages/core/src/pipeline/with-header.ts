/**
 * `headers` and one more field, as a new object (`name` wins over a field of that name).
 *
 * Not `{ ...headers, [name]: value }`: on Node 20's V8 a spread copy of a non-empty object
 * that then gains a property leaves the fast path, about 0.5 µs instead of 0.1 µs (measured),
 * and refusals are built for every request of a flood.
 */
export function withHeader(
  headers: Readonly<Record<string, string>>,
  name: string,
  value: string,
): Record<string, string> {
  const result: Record<string, string> = Object.assign({}, headers);
  result[name] = value;
  return result;
}

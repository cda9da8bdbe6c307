/**
 * A copy of `text` that keeps no larger string alive. V8 represents `slice`/`substring`
 * results of 13 characters or more as views into the string they were cut from, so a
 * 20-character path cut from a 16 KB request target holds all 16 KB for as long as it is
 * kept. Anything kept past the request (queued usage rows, blocks, memo keys) goes through
 * this: concatenating forces a flat copy of the characters, and the view taken of that copy
 * is as long as the text itself.
 */
export function detachString(text: string): string {
  return text.length < 13 ? text : ` ${text}`.slice(1);
}

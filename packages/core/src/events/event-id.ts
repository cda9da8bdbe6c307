import { randomBytes } from "node:crypto";

/**
 * UUIDv7 ids (the layout of `timeOrderedId`) that also increase strictly within a process:
 * events made in the same millisecond take a counter in the 12 bits after the version
 * (RFC 9562's "fixed bit-length dedicated counter"), so a reader's cursor never skips an
 * event this process wrote after one of the same millisecond.
 */
export class EventIds {
  #lastMs = -1;
  #counter = 0;

  next(at: number): string {
    let ms = Math.max(0, Math.floor(at));
    if (ms <= this.#lastMs) {
      ms = this.#lastMs;
      this.#counter += 1;
      if (this.#counter > 0xfff) {
        ms += 1;
        this.#counter = 0;
      }
    } else {
      this.#counter = 0;
    }
    this.#lastMs = ms;
    const time = ms.toString(16).padStart(12, "0").slice(-12);
    const random = randomBytes(8);
    const variant = ((random[0] ?? 0) & 0x3f) | 0x80;
    const tail = random.subarray(1).toString("hex").slice(0, 14);
    return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${this.#counter.toString(16).padStart(3, "0")}-${variant.toString(16).padStart(2, "0")}${tail.slice(0, 2)}-${tail.slice(2, 14)}`;
  }
}

import { describe, expect, it } from "vitest";
import { KeyGuardInstruments } from "../src/metrics/keyguard-instruments.js";
import { timedPort } from "../src/metrics/timed-port.js";

class Port {
  readonly #calls: string[] = [];
  label = "port";

  async find(id: string): Promise<string> {
    this.#calls.push(id);
    return `found ${id}`;
  }

  async fail(): Promise<void> {
    throw new Error("down");
  }

  now(): number {
    return this.#calls.length;
  }

  get calls(): number {
    return this.#calls.length;
  }
}

function timed() {
  const instruments = new KeyGuardInstruments();
  const port = new Port();
  const wrapped = timedPort(port, {
    timing: (operation) => instruments.storeCall(operation),
    errors: (operation) => instruments.storeErrors.counter({ operation }),
  });
  const count = (operation: string) =>
    [...instruments.storeCalls.cells].find((cell) => cell.labels.operation === operation)?.count;
  return { instruments, port, wrapped, count };
}

describe("timedPort", () => {
  it("times each call by method, on the port itself (private fields, getters, fields)", async () => {
    const { wrapped, port, count } = timed();
    expect(await wrapped.find("a")).toBe("found a");
    expect(await wrapped.find("b")).toBe("found b");
    expect(wrapped.now()).toBe(2);
    expect(wrapped.calls).toBe(2);
    expect(wrapped.label).toBe("port");
    expect(wrapped).toBeInstanceOf(Port);
    expect(count("find")).toBe(2);
    expect(count("now")).toBe(1);
    expect(port.calls).toBe(2);
    // A method never called has no series.
    expect(count("fail")).toBeUndefined();
    expect((wrapped as unknown as { missing?: unknown }).missing).toBeUndefined();
  });

  it("counts failures and passes them on unchanged", async () => {
    const { wrapped, instruments, count } = timed();
    await expect(wrapped.fail()).rejects.toThrow("down");
    await expect(wrapped.fail()).rejects.toThrow("down");
    expect(count("fail")).toBe(2);
    expect(instruments.storeErrors.counter({ operation: "fail" }).value).toBe(2);
  });
});

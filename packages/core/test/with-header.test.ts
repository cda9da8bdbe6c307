import { describe, expect, it } from "vitest";
import { problemResponse } from "../src/pipeline/problem-details.js";
import { withHeader } from "../src/pipeline/with-header.js";

describe("withHeader", () => {
  it("adds the field to a copy, leaving the headers it was given as they were", () => {
    const headers = { "x-ratelimit-remaining": "0" };
    const refused = withHeader(headers, "retry-after", "12");
    expect(refused).toEqual({ "x-ratelimit-remaining": "0", "retry-after": "12" });
    expect(headers).toEqual({ "x-ratelimit-remaining": "0" });
  });

  it("lets the new value win over a field of the same name", () => {
    expect(withHeader({ "retry-after": "1" }, "retry-after", "5")).toEqual({ "retry-after": "5" });
  });
});

describe("problemResponse", () => {
  it("always sends the problem content type, whatever the headers said", () => {
    const response = problemResponse("rate_limited", "Slow down.", {
      "content-type": "text/plain",
      "retry-after": "3",
    });
    expect(response.status).toBe(429);
    expect(response.headers).toEqual({
      "content-type": "application/problem+json",
      "retry-after": "3",
    });
  });
});

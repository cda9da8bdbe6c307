/** A refusal of the admin API, as its problem+json says it (never a blank screen). */
export class ApiProblem extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly code: string | undefined;

  constructor(status: number, title: string, detail: string, code?: string) {
    super(detail === "" ? title : `${title}: ${detail}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.code = code;
  }
}

/** A page of a listing: the admin API's keyset pages. */
export interface Page<T> {
  readonly items: T[];
  readonly next_cursor: string | null;
}

type Query = Record<string, string | number | undefined>;

/**
 * The admin API, same origin, authenticated with the admin key in `X-Admin-Key` (never in
 * a URL, so it stays out of logs and history). Every refusal becomes an `ApiProblem`.
 */
export class AdminClient {
  readonly #base: string;
  readonly #key: string;
  readonly #onUnauthorized: (() => void) | undefined;

  /** `onUnauthorized`: the key stopped working (changed on the server): sign out. */
  constructor(base: string, key: string, onUnauthorized?: () => void) {
    this.#base = base.replace(/\/+$/, "");
    this.#key = key;
    this.#onUnauthorized = onUnauthorized;
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.#send<T>("GET", path, query, undefined);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.#send<T>("POST", path, {}, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.#send<T>("PATCH", path, {}, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.#send<T>("DELETE", path, {}, undefined);
  }

  async #send<T>(method: string, path: string, query: Query, body: unknown): Promise<T> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== "") search.set(name, String(value));
    }
    const url = `${this.#base}${path}${search.size > 0 ? `?${search}` : ""}`;
    const headers: Record<string, string> = {
      "x-admin-key": this.#key,
      accept: "application/json",
    };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        credentials: "omit",
        cache: "no-store",
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch {
      throw new ApiProblem(0, "The server could not be reached", "Check that it is running.");
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (response.status === 401) this.#onUnauthorized?.();
    if (!response.ok) throw problemOf(response.status, parsed);
    return parsed as T;
  }
}

function problemOf(status: number, body: unknown): ApiProblem {
  const problem = (typeof body === "object" && body !== null ? body : {}) as Record<
    string,
    unknown
  >;
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  const title = text(problem.title) || `The server answered ${status}`;
  const code = typeof problem.code === "string" ? problem.code : undefined;
  return new ApiProblem(status, title, text(problem.detail), code);
}

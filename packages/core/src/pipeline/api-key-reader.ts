import type { GuardRequest } from "./guard-request.js";

/** The key a request sent, or why none can be read (two keys, a repeated header). */
export type ReadKey =
  | { readonly ok: true; readonly value: string | undefined }
  | { readonly ok: false; readonly detail: string };

/**
 * Reads a request's API key from the configured header or `Authorization: Bearer`, and
 * words the answers about it: the 401 challenge and the "no key" detail name that header.
 */
export class ApiKeyReader {
  readonly #header: string;
  readonly #bearer: boolean;
  /** `WWW-Authenticate` for every 401 (RFC 9110 §11.6.1 requires a challenge). */
  readonly challenge: Readonly<Record<string, string>>;
  /** The detail of a `missing_api_key` refusal, naming the configured header. */
  readonly missingDetail: string;

  constructor(header: string, bearer: boolean) {
    this.#header = header.toLowerCase();
    this.#bearer = bearer;
    const name = this.#header.toUpperCase();
    this.challenge = {
      "www-authenticate": `ApiKey realm="keyguard", header="${name}"${bearer ? ', Bearer realm="keyguard"' : ""}`,
    };
    this.missingDetail = `Send an API key in the ${name} header${bearer ? " or as Authorization: Bearer" : ""}.`;
  }

  read(request: GuardRequest): ReadKey {
    const sent = request.header(this.#header);
    // An empty key header is no key (clients send `X-API-KEY:` from unset variables): it
    // neither conflicts with a bearer key nor counts as a wrong one.
    const header = sent === "" ? undefined : sent;
    if (Array.isArray(header)) {
      return { ok: false, detail: `Send exactly one ${this.#header.toUpperCase()} header.` };
    }
    let bearer: string | undefined;
    if (this.#bearer) {
      const authorization = request.header("authorization");
      const value = Array.isArray(authorization) ? undefined : authorization;
      if (value !== undefined && /^bearer\s+/i.test(value))
        bearer = value.replace(/^bearer\s+/i, "") || undefined;
    }
    if (header !== undefined && bearer !== undefined && header !== bearer) {
      return {
        ok: false,
        detail: `Two different API keys were sent (${this.#header.toUpperCase()} and Authorization).`,
      };
    }
    return { ok: true, value: header ?? bearer };
  }
}

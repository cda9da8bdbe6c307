/** What an adapter reads off its framework's request. */
export interface GuardRequest {
  readonly method: string;
  /**
   * The path the framework routes: its parsed pathname (Express, Koa) or matched route
   * (Fastify), never the raw request target. Core normalises and bounds it.
   */
  readonly path: string;
  /** The socket's peer address. */
  readonly remoteAddress: string | undefined;
  /** A header by lower-case name, as the framework gives it. */
  header(name: string): string | string[] | undefined;
}

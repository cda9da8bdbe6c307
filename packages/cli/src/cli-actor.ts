import { userInfo } from "node:os";
import type { EventActor } from "@keyguard/core";
import { actorOf } from "@keyguard/core/internal";

/**
 * Who the audit log records for a CLI command: `cli` and the OS user running it (from
 * the account database, else `USER` / `LOGNAME`, else no name: a container user without
 * a passwd entry is still the CLI).
 */
export function cliActor(env: Record<string, string | undefined>): EventActor {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = env.USER || env.LOGNAME || undefined;
  }
  try {
    return actorOf({ type: "cli", name: name ?? null });
  } catch {
    return { type: "cli", name: null }; // a name no actor may have (control characters)
  }
}

import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { AdminClient } from "./admin-client.js";

export const ClientContext = createContext<AdminClient | undefined>(undefined);

/** The signed-in admin API client (screens render only once signed in). */
export function useClient(): AdminClient {
  const client = useContext(ClientContext);
  if (client === undefined) throw new Error("useClient outside a signed-in page");
  return client;
}

import type { Cluster, Redis } from "ioredis";

/**
 * Closes a connection without waiting on a server that is not there: QUIT when connected
 * (pending replies arrive first), an immediate disconnect otherwise. A QUIT sent while
 * reconnecting would sit in the offline queue and hold the process open.
 */
export async function closeConnection(connection: Redis | Cluster): Promise<void> {
  if (connection.status === "ready") {
    await connection.quit().catch(() => connection.disconnect());
  } else {
    connection.disconnect();
  }
}

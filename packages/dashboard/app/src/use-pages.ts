import { useCallback, useEffect, useState } from "preact/hooks";
import type { Page } from "./admin-client.js";

export interface Pages<T> {
  readonly items: readonly T[];
  readonly error: unknown;
  readonly more: boolean;
  readonly loadMore: () => void;
  readonly reload: () => void;
}

/**
 * A listing read a page at a time (the admin API's keyset cursors): the first page when
 * `deps` change or on `reload()`, the next on `loadMore()`. Answers for an older listing
 * are dropped.
 */
export function usePages<T>(
  read: (cursor: string | undefined) => Promise<Page<T>>,
  deps: readonly unknown[],
): Pages<T> {
  const [items, setItems] = useState<readonly T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    read(undefined).then(
      (page) => {
        if (!current) return;
        setItems(page.items);
        setCursor(page.next_cursor);
        setError(undefined);
      },
      (cause: unknown) => current && setError(cause),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  const loadMore = useCallback(() => {
    if (cursor === null) return;
    read(cursor).then(
      (page) => {
        setItems((previous) => [...previous, ...page.items]);
        setCursor(page.next_cursor);
      },
      (cause: unknown) => setError(cause),
    );
  }, [cursor, read]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { items, error, more: cursor !== null, loadMore, reload };
}

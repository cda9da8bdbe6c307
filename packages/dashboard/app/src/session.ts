/**
 * The admin key for this tab only: sessionStorage (gone when the tab closes, never shared
 * with other tabs, never in localStorage, a cookie or a URL).
 */
const SLOT = "keyguard.adminKey";

export function savedAdminKey(): string | undefined {
  try {
    return sessionStorage.getItem(SLOT) ?? undefined;
  } catch {
    return undefined;
  }
}

export function saveAdminKey(key: string | undefined): void {
  try {
    if (key === undefined) sessionStorage.removeItem(SLOT);
    else sessionStorage.setItem(SLOT, key);
  } catch {
    // Storage refused (private mode): the key lives in memory until a reload.
  }
}

/** Where the admin API is: the page's `keyguard-admin-api` meta tag, written by the server. */
export function adminApiBase(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="keyguard-admin-api"]');
  return meta?.content || "/admin";
}

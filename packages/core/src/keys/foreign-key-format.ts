/**
 * Raw keys that are not KeyGuard's own format but may belong to an imported key. Both
 * checks are pure and allocation-free over the string, like `isWellFormedKey`: they run
 * on junk too, before anything else.
 */

const KG_PYTHON_PREFIX = "kg_live_";
/** keyguard-python: `kg_live_` + `secrets.token_urlsafe(32)` (43 base64url characters). */
const KG_PYTHON_LENGTH = KG_PYTHON_PREFIX.length + 43;

/** Shortest and longest raw key from another system that is looked up at all. */
export const FOREIGN_KEY_MIN_LENGTH = 16;
export const FOREIGN_KEY_MAX_LENGTH = 256;

function isBase64UrlCode(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || // 0-9
    (code >= 65 && code <= 90) || // A-Z
    (code >= 97 && code <= 122) || // a-z
    code === 45 || // -
    code === 95 // _
  );
}

/** True for a key of keyguard-python's format (no checksum, so no further check is possible). */
export function isKeyguardPythonKey(value: string): boolean {
  if (value.length !== KG_PYTHON_LENGTH || !value.startsWith(KG_PYTHON_PREFIX)) return false;
  for (let i = KG_PYTHON_PREFIX.length; i < KG_PYTHON_LENGTH; i++) {
    if (!isBase64UrlCode(value.charCodeAt(i))) return false;
  }
  return true;
}

/**
 * True for a string that could be a key issued by another system (Unkey, better-auth, an
 * in-house scheme): 16 to 256 visible ASCII characters, nothing else. Anything outside
 * that is refused as malformed without hashing.
 */
export function isPlausibleForeignKey(value: string): boolean {
  if (value.length < FOREIGN_KEY_MIN_LENGTH || value.length > FOREIGN_KEY_MAX_LENGTH) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return false;
  }
  return true;
}

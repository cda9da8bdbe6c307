import { useState } from "preact/hooks";

/**
 * A new key, shown this once: it is not stored anywhere, so the page says so and offers a
 * copy button. Dismissed, it is gone from the page too.
 */
export function RawKeyNotice(props: { readonly rawKey: string; readonly onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <section class="raw-key" aria-labelledby="raw-key-title">
      <h3 id="raw-key-title">Copy the new key now</h3>
      <p>
        This is the only time it is shown. KeyGuard keeps only a hash of it: if it is lost, rotate
        the key.
      </p>
      <div class="raw-key-row">
        <code data-testid="raw-key">{props.rawKey}</code>
        <button
          type="button"
          onClick={async () => {
            try {
              await navigator.clipboard.writeText(props.rawKey);
              setCopied(true);
            } catch {
              setCopied(false);
            }
          }}
        >
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
      <button type="button" class="primary" onClick={props.onDone}>
        I have stored it
      </button>
    </section>
  );
}

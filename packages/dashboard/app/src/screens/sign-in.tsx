import { useState } from "preact/hooks";
import { AdminClient, ApiProblem } from "../admin-client.js";
import { ProblemBanner } from "../components/problem-banner.js";

/** Sign-in with the admin key: checked against the API before the console opens. */
export function SignIn(props: {
  readonly base: string;
  /** Why the page signed out by itself, if it did. */
  readonly notice?: string | undefined;
  readonly onSignedIn: (key: string) => void;
}) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  return (
    <main class="sign-in">
      <h1>KeyGuard</h1>
      {props.notice === undefined ? null : (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(undefined);
          const client = new AdminClient(props.base, key.trim());
          try {
            await client.get("/stats");
            props.onSignedIn(key.trim());
          } catch (cause) {
            setError(
              cause instanceof ApiProblem && cause.status === 401
                ? new ApiProblem(
                    401,
                    "Wrong admin key",
                    "The server did not accept this admin key.",
                  )
                : cause,
            );
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="admin-key">Admin key</label>
        <input
          id="admin-key"
          type="password"
          autocomplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(event) => setKey(event.currentTarget.value)}
        />
        <p class="hint">Kept for this tab only, and sent only to this server's admin API.</p>
        <ProblemBanner error={error} />
        <button type="submit" class="primary" disabled={busy || key.trim() === ""}>
          Sign in
        </button>
      </form>
    </main>
  );
}

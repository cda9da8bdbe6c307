import { useState } from "preact/hooks";
import { AdminClient } from "./admin-client.js";
import { ClientContext } from "./client-context.js";
import { hrefOf, type Route, useRoute } from "./route.js";
import { Audit } from "./screens/audit.js";
import { Blocks } from "./screens/blocks.js";
import { KeyDetail } from "./screens/key-detail.js";
import { Keys } from "./screens/keys.js";
import { Organizations } from "./screens/organizations.js";
import { Overview } from "./screens/overview.js";
import { SignIn } from "./screens/sign-in.js";
import { adminApiBase, saveAdminKey, savedAdminKey } from "./session.js";

const NAV: readonly { readonly label: string; readonly route: Route }[] = [
  { label: "Overview", route: { screen: "overview" } },
  { label: "Organizations", route: { screen: "organizations" } },
  { label: "Keys", route: { screen: "keys" } },
  { label: "Blocks and IP rules", route: { screen: "blocks" } },
  { label: "Audit log", route: { screen: "audit" } },
];

/** The console: sign-in until an admin key is accepted, then the screens. */
export function App() {
  const base = adminApiBase();
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const signedIn = (key: string) =>
    new AdminClient(base, key, () => {
      // The admin key was changed on the server: back to the sign-in, saying why.
      saveAdminKey(undefined);
      setClient(undefined);
      setNotice("The server no longer accepts this admin key. Sign in again.");
    });
  const [client, setClient] = useState<AdminClient | undefined>(() => {
    const key = savedAdminKey();
    return key === undefined ? undefined : signedIn(key);
  });
  const route = useRoute();
  if (client === undefined) {
    return (
      <SignIn
        base={base}
        notice={notice}
        onSignedIn={(key) => {
          saveAdminKey(key);
          setNotice(undefined);
          setClient(signedIn(key));
        }}
      />
    );
  }
  const current = route.screen === "key" ? "keys" : route.screen;
  return (
    <ClientContext.Provider value={client}>
      <header class="top">
        <span class="brand">KeyGuard</span>
        <nav aria-label="Screens">
          {NAV.map((item) => (
            <a
              key={item.label}
              href={hrefOf(item.route)}
              aria-current={item.route.screen === current ? "page" : undefined}
            >
              {item.label}
            </a>
          ))}
        </nav>
        <button
          type="button"
          class="sign-out"
          onClick={() => {
            saveAdminKey(undefined);
            setClient(undefined);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        <Screen route={route} />
      </main>
    </ClientContext.Provider>
  );
}

function Screen({ route }: { readonly route: Route }) {
  switch (route.screen) {
    case "organizations":
      return <Organizations />;
    case "keys":
      return <Keys key={route.org ?? ""} org={route.org} />;
    case "key":
      return <KeyDetail key={route.id} id={route.id} />;
    case "blocks":
      return <Blocks />;
    case "audit":
      return <Audit key={route.target ?? ""} target={route.target} />;
    default:
      return <Overview />;
  }
}

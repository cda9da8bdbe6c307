import { useEffect, useState } from "preact/hooks";

/** The screens, addressed by the URL's hash (`#/keys/<id>`): the server serves one page. */
export type Route =
  | { readonly screen: "overview" }
  | { readonly screen: "organizations" }
  | { readonly screen: "keys"; readonly org?: string }
  | { readonly screen: "key"; readonly id: string }
  | { readonly screen: "blocks" }
  | { readonly screen: "audit"; readonly target?: string };

const ID = /^[0-9a-f-]{36}$/;

/** The route a hash names; anything unknown is the overview. */
export function parseRoute(hash: string): Route {
  const [path = "", search = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter((part) => part !== "");
  const params = new URLSearchParams(search);
  switch (parts[0]) {
    case "organizations":
      return { screen: "organizations" };
    case "keys": {
      if (parts[1] !== undefined && ID.test(parts[1])) return { screen: "key", id: parts[1] };
      const org = params.get("org");
      return org === null ? { screen: "keys" } : { screen: "keys", org };
    }
    case "blocks":
      return { screen: "blocks" };
    case "audit": {
      const target = params.get("target");
      return target === null ? { screen: "audit" } : { screen: "audit", target };
    }
    default:
      return { screen: "overview" };
  }
}

export function hrefOf(route: Route): string {
  switch (route.screen) {
    case "overview":
      return "#/";
    case "keys":
      return route.org === undefined ? "#/keys" : `#/keys?org=${encodeURIComponent(route.org)}`;
    case "key":
      return `#/keys/${route.id}`;
    case "audit":
      return route.target === undefined
        ? "#/audit"
        : `#/audit?target=${encodeURIComponent(route.target)}`;
    default:
      return `#/${route.screen}`;
  }
}

/** The current route, following the hash. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const follow = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", follow);
    return () => removeEventListener("hashchange", follow);
  }, []);
  return route;
}

import { useState } from "preact/hooks";
import type { Page } from "../admin-client.js";
import { useClient } from "../client-context.js";
import { DataTable } from "../components/data-table.js";
import { ProblemBanner } from "../components/problem-banner.js";
import { RawKeyNotice } from "../components/raw-key-notice.js";
import { formatKeyLimits, formatRelative } from "../format.js";
import { hrefOf } from "../route.js";
import { useLoad } from "../use-load.js";
import { usePages } from "../use-pages.js";
import type { ApiKeyWire, CreatedApiKeyWire, OrganizationWire } from "../wire.js";
import { KeyForm } from "./key-form.js";

/** Keys: filters, search, pages; create (the raw key shown once). */
export function Keys(props: { readonly org?: string }) {
  const client = useClient();
  const [org, setOrg] = useState(props.org ?? "");
  const [status, setStatus] = useState("");
  const [search, setSearch] = useState("");
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedApiKeyWire | undefined>(undefined);
  const [createOrg, setCreateOrg] = useState(props.org ?? "");
  const organizations = useLoad(
    () => client.get<Page<OrganizationWire>>("/orgs", { limit: 200, status: "active" }),
    [],
  );
  const pages = usePages(
    (cursor) =>
      client.get<Page<ApiKeyWire>>("/keys", {
        limit: 100,
        cursor,
        org: org || undefined,
        status: status || undefined,
      }),
    [org, status],
  );
  const needle = search.trim().toLowerCase();
  // The API filters by organization and status; the search runs over the pages read.
  const shown = pages.items.filter(
    (key) =>
      needle === "" ||
      key.label.toLowerCase().includes(needle) ||
      key.prefix.toLowerCase().includes(needle),
  );
  const now = Date.now();
  return (
    <section>
      <h2>Keys</h2>
      {created === undefined ? null : (
        <RawKeyNotice rawKey={created.raw_key} onDone={() => setCreated(undefined)} />
      )}
      <button type="button" onClick={() => setCreating(!creating)}>
        {creating ? "Cancel" : "Create a key"}
      </button>
      {creating ? (
        <div class="panel">
          <label for="create-org">Organization</label>
          <select
            id="create-org"
            value={createOrg}
            onChange={(e) => setCreateOrg(e.currentTarget.value)}
          >
            <option value="">choose one</option>
            {(organizations.data?.items ?? []).map((o) => (
              <option key={o.id} value={o.name}>
                {o.name}
              </option>
            ))}
          </select>
          <ProblemBanner error={organizations.error} />
          <KeyForm
            idPrefix="create"
            submitLabel="Create key"
            onSubmit={async (settings) => {
              if (createOrg === "") throw new Error("Choose the key's organization.");
              const key = await client.post<CreatedApiKeyWire>("/keys", {
                org_name: createOrg,
                ...settings,
                monthly_limit: settings.monthly_limit ?? undefined,
                expires_at: settings.expires_at ?? undefined,
              });
              setCreating(false);
              setCreated(key);
              pages.reload();
            }}
          />
        </div>
      ) : null}
      <div class="filters">
        <label for="filter-org">Organization</label>
        <input id="filter-org" value={org} onChange={(e) => setOrg(e.currentTarget.value.trim())} />
        <label for="filter-status">Status</label>
        <select
          id="filter-status"
          value={status}
          onChange={(e) => setStatus(e.currentTarget.value)}
        >
          <option value="">any</option>
          <option value="active">active</option>
          <option value="revoked">revoked</option>
          <option value="expired">expired</option>
        </select>
        <label for="filter-search">Label or prefix</label>
        <input
          id="filter-search"
          type="search"
          value={search}
          onInput={(e) => setSearch(e.currentTarget.value)}
        />
      </div>
      <ProblemBanner error={pages.error} />
      <DataTable columns={["Label", "Prefix", "Organization", "Status", "Limits", "Last used"]}>
        {shown.map((key) => (
          <tr key={key.id}>
            <td>
              <a href={hrefOf({ screen: "key", id: key.id })}>{key.label}</a>
            </td>
            <td>
              <code>{key.prefix}</code>
            </td>
            <td>{key.org_name}</td>
            <td>
              <span class={`status status-${key.status}`}>{key.status}</span>
            </td>
            <td class="limits">{formatKeyLimits(key)}</td>
            <td>{formatRelative(key.last_used_at, now)}</td>
          </tr>
        ))}
      </DataTable>
      {shown.length === 0 && pages.error === undefined ? <p>No keys match.</p> : null}
      {pages.more ? (
        <button type="button" onClick={pages.loadMore}>
          Load more
        </button>
      ) : null}
    </section>
  );
}

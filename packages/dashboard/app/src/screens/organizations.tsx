import { useState } from "preact/hooks";
import type { Page } from "../admin-client.js";
import { useClient } from "../client-context.js";
import { DataTable } from "../components/data-table.js";
import { ProblemBanner } from "../components/problem-banner.js";
import {
  formatKeyCounts,
  formatLimit,
  formatOrganizationLimits,
  formatTime,
  parseLimits,
} from "../format.js";
import { hrefOf } from "../route.js";
import { usePages } from "../use-pages.js";
import type { ListedOrganizationWire } from "../wire.js";

/**
 * Organizations: list (by status) with their keys counted, create, suspend / activate,
 * the windows and concurrency cap their keys share.
 */
export function Organizations() {
  const client = useClient();
  const [status, setStatus] = useState("");
  const [error, setError] = useState<unknown>(undefined);
  const [name, setName] = useState("");
  const pages = usePages(
    (cursor) =>
      client.get<Page<ListedOrganizationWire>>("/orgs", {
        limit: 50,
        cursor,
        status: status || undefined,
      }),
    [status],
  );
  const act = async (action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      pages.reload();
    } catch (cause) {
      setError(cause);
    }
  };
  return (
    <section>
      <h2>Organizations</h2>
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          void act(async () => {
            await client.post("/orgs", { name: name.trim() });
            setName("");
          });
        }}
      >
        <label for="org-name">New organization</label>
        <input
          id="org-name"
          required
          maxLength={200}
          value={name}
          onInput={(event) => setName(event.currentTarget.value)}
        />
        <button type="submit" class="primary">
          Create
        </button>
      </form>
      <div class="filters">
        <label for="org-status">Status</label>
        <select id="org-status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          <option value="">any</option>
          <option value="active">active</option>
          <option value="suspended">suspended</option>
        </select>
      </div>
      <ProblemBanner error={error ?? pages.error} />
      <DataTable columns={["Name", "Status", "Keys", "Limits", "Created", "Actions"]}>
        {pages.items.map((org) => (
          <OrganizationRow key={org.id} org={org} act={act} />
        ))}
      </DataTable>
      {pages.more ? (
        <button type="button" onClick={pages.loadMore}>
          Load more
        </button>
      ) : null}
    </section>
  );
}

function OrganizationRow(props: {
  readonly org: ListedOrganizationWire;
  readonly act: (action: () => Promise<unknown>) => Promise<void>;
}) {
  const client = useClient();
  const { org } = props;
  const [editing, setEditing] = useState(false);
  const [limits, setLimits] = useState(org.limits.map(formatLimit).join(" "));
  const [concurrency, setConcurrency] = useState(
    org.concurrency === null ? "" : String(org.concurrency),
  );
  const [error, setError] = useState<unknown>(undefined);
  const path = `/orgs/${org.id}`;
  return (
    <tr>
      <td>
        <a href={hrefOf({ screen: "keys", org: org.name })}>{org.name}</a>
      </td>
      <td>
        <span class={`status status-${org.status}`}>{org.status}</span>
      </td>
      <td data-testid={`org-keys-${org.name}`}>{formatKeyCounts(org.keys)}</td>
      <td>
        {editing ? (
          <form
            class="inline-form"
            onSubmit={(event) => {
              event.preventDefault();
              try {
                const parsed = parseLimits(limits);
                const cap = concurrency.trim();
                if (
                  cap !== "" &&
                  !(/^\d{1,5}$/.test(cap) && Number(cap) >= 1 && Number(cap) <= 10_000)
                ) {
                  throw new Error("The concurrency cap must be a whole number from 1 to 10000.");
                }
                setError(undefined);
                void props.act(async () => {
                  // The cap only when it changed.
                  const initialCap = org.concurrency === null ? "" : String(org.concurrency);
                  await client.patch(path, {
                    limits: parsed,
                    // A changed cap keeps its mode: sent alone it would become enforced.
                    ...(cap === initialCap
                      ? {}
                      : cap === ""
                        ? { concurrency: null }
                        : {
                            concurrency: Number(cap),
                            concurrency_mode: org.concurrency_mode ?? "enforce",
                          }),
                  });
                  setEditing(false);
                });
              } catch (cause) {
                setError(cause);
              }
            }}
          >
            <label class="sr-only" for={`limits-${org.id}`}>
              Limits of {org.name}
            </label>
            <input
              id={`limits-${org.id}`}
              placeholder="day=100000/1d"
              value={limits}
              onInput={(event) => setLimits(event.currentTarget.value)}
            />
            <label class="sr-only" for={`concurrency-${org.id}`}>
              Requests in flight at once across the keys of {org.name}
            </label>
            <input
              id={`concurrency-${org.id}`}
              inputMode="numeric"
              size={6}
              placeholder="in flight"
              value={concurrency}
              onInput={(event) => setConcurrency(event.currentTarget.value)}
            />
            <button type="submit">Save</button>
            <ProblemBanner error={error} />
          </form>
        ) : (
          <span>{formatOrganizationLimits(org)}</span>
        )}
      </td>
      <td>{formatTime(org.created_at)}</td>
      <td class="actions">
        <button type="button" onClick={() => setEditing(!editing)}>
          {editing ? "Cancel" : "Edit limits"}
        </button>
        {org.status === "active" ? (
          <button
            type="button"
            class="danger"
            onClick={() => void props.act(() => client.patch(path, { status: "suspended" }))}
          >
            Suspend
          </button>
        ) : (
          <button
            type="button"
            onClick={() => void props.act(() => client.patch(path, { status: "active" }))}
          >
            Activate
          </button>
        )}
      </td>
    </tr>
  );
}

import { useState } from "preact/hooks";
import { useClient } from "../client-context.js";
import { DataTable } from "../components/data-table.js";
import { ProblemBanner } from "../components/problem-banner.js";
import { formatRelative } from "../format.js";
import { useLoad } from "../use-load.js";
import type { IpBlockWire, IpRuleWire } from "../wire.js";

/** IP blocks (manual and automatic) and IP allow / deny rules: list, add, lift / remove. */
export function Blocks() {
  const client = useClient();
  const blocks = useLoad(() => client.get<{ items: IpBlockWire[] }>("/ip-blocks"), []);
  const rules = useLoad(() => client.get<{ items: IpRuleWire[] }>("/ip-rules"), []);
  const [error, setError] = useState<unknown>(undefined);
  const [ip, setIp] = useState("");
  const [duration, setDuration] = useState("1 hour");
  const [reason, setReason] = useState("");
  const [cidr, setCidr] = useState("");
  const [action, setAction] = useState<"allow" | "deny">("deny");
  const [ruleReason, setRuleReason] = useState("");
  const act = async (run: () => Promise<unknown>, after: () => void) => {
    setError(undefined);
    try {
      await run();
      after();
    } catch (cause) {
      setError(cause);
    }
  };
  const now = Date.now();
  return (
    <section>
      <h2>Blocks and IP rules</h2>
      <ProblemBanner error={error} />
      <h3>Blocks in force</h3>
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          void act(
            () =>
              client.post("/ip-blocks", {
                ip: ip.trim(),
                duration: duration.trim(),
                ...(reason.trim() === "" ? {} : { reason: reason.trim() }),
              }),
            () => {
              setIp("");
              blocks.reload();
            },
          );
        }}
      >
        <label for="block-ip">IP</label>
        <input id="block-ip" required value={ip} onInput={(e) => setIp(e.currentTarget.value)} />
        <label for="block-duration">For</label>
        <input
          id="block-duration"
          required
          value={duration}
          onInput={(e) => setDuration(e.currentTarget.value)}
        />
        <label for="block-reason">Reason</label>
        <input id="block-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        <button type="submit" class="primary">
          Block
        </button>
      </form>
      <ProblemBanner error={blocks.error} />
      <DataTable columns={["Client", "Where", "Reason", "Ends", "Actions"]}>
        {(blocks.data?.items ?? []).map((block) => (
          <tr key={`${block.client} ${block.path ?? ""}`}>
            <td>
              <code>{block.client}</code>
            </td>
            <td>{block.scope === "global" ? "everywhere" : block.path}</td>
            <td>
              {block.reason}
              {block.automatic ? " (automatic)" : ""}
            </td>
            <td>{formatRelative(block.until, now)}</td>
            <td>
              <button
                type="button"
                onClick={() =>
                  void act(
                    () => client.delete(`/ip-blocks/${encodeURIComponent(block.client)}`),
                    blocks.reload,
                  )
                }
              >
                Lift
              </button>
            </td>
          </tr>
        ))}
      </DataTable>
      <h3>IP rules</h3>
      <form
        class="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          void act(
            () =>
              client.post("/ip-rules", {
                cidr: cidr.trim(),
                action,
                ...(ruleReason.trim() === "" ? {} : { reason: ruleReason.trim() }),
              }),
            () => {
              setCidr("");
              rules.reload();
            },
          );
        }}
      >
        <label for="rule-cidr">Address or CIDR</label>
        <input
          id="rule-cidr"
          required
          value={cidr}
          onInput={(e) => setCidr(e.currentTarget.value)}
        />
        <label for="rule-action">Action</label>
        <select
          id="rule-action"
          value={action}
          onChange={(e) => setAction(e.currentTarget.value === "allow" ? "allow" : "deny")}
        >
          <option value="deny">deny</option>
          <option value="allow">allow</option>
        </select>
        <label for="rule-reason">Reason</label>
        <input
          id="rule-reason"
          value={ruleReason}
          onInput={(e) => setRuleReason(e.currentTarget.value)}
        />
        <button type="submit" class="primary">
          Add rule
        </button>
      </form>
      <ProblemBanner error={rules.error} />
      <DataTable columns={["Range", "Action", "Reason", "Source", "Actions"]}>
        {(rules.data?.items ?? []).map((rule) => (
          <tr key={rule.id ?? `config ${rule.action} ${rule.cidr}`}>
            <td>
              <code>{rule.cidr}</code>
            </td>
            <td>{rule.action}</td>
            <td>{rule.reason ?? ""}</td>
            <td>{rule.source === "config" ? "configuration" : "database"}</td>
            <td>
              {rule.id === null ? null : (
                <button
                  type="button"
                  onClick={() =>
                    void act(() => client.delete(`/ip-rules/${rule.id}`), rules.reload)
                  }
                >
                  Remove
                </button>
              )}
            </td>
          </tr>
        ))}
      </DataTable>
    </section>
  );
}

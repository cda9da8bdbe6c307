import { type Kysely, type Migration, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";
import { MAX_NOTICES_PER_TRANSACTION } from "./0014-change-notices.js";

/**
 * IP allow / deny rules (`ip_rules`: one rule per canonical CIDR, so two processes adding
 * the same range agree on one row), and keys' `allowed_ips` (a JSON array of canonical
 * CIDRs; null: the key may be used from anywhere, as every key before this migration).
 * A rule added or removed is announced by the database, like the changes of migration
 * 0014: whoever writes it (a server, the CLI, SQL by hand), every process listening
 * applies it at once and then re-reads the rules.
 */
export function ipRules(dialect: SqlDialect): Migration {
  const timestamp = dialect === "postgres" ? "timestamptz" : "text";
  const json = dialect === "postgres" ? "jsonb" : "text";
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("ip_rules")
        .ifNotExists()
        .addColumn("id", "varchar(36)", (c) => c.primaryKey())
        // An IPv6 CIDR in canonical form is at most 43 characters.
        .addColumn("cidr", "varchar(64)", (c) => c.notNull().unique())
        .addColumn("action", "varchar(8)", (c) => c.notNull())
        .addColumn("reason", "varchar(200)")
        .addColumn("created_at", timestamp, (c) => c.notNull())
        .execute();
      await db.schema.alterTable("api_keys").addColumn("allowed_ips", json).execute();
      if (dialect === "postgres") await postgresRuleNotices(db);
      else await sqliteRuleNotices(db);
    },
  };
}

async function postgresRuleNotices(db: Kysely<unknown>): Promise<void> {
  // The channel and the per-transaction bound are those of keyguard_notify_change (0014).
  await sql
    .raw(`
create or replace function keyguard_notify_ip_rule() returns trigger language plpgsql as $fn$
declare
  channel text := case when octet_length(tg_table_schema) <= 54
    then 'keyguard_' || tg_table_schema else 'keyguard_' || md5(tg_table_schema) end;
  sent integer := coalesce(nullif(current_setting('keyguard.notices_sent', true), ''), '0')::integer + 1;
  notice text := '{"kind":"ip-rules"}';
begin
  if sent > ${MAX_NOTICES_PER_TRANSACTION} + 1 then return null; end if;
  if tg_op = 'INSERT' then
    notice := json_build_object('kind', 'ip-rules', 'added',
      json_build_object('id', new.id, 'cidr', new.cidr, 'action', new.action))::text;
  elsif tg_op = 'DELETE' then
    notice := json_build_object('kind', 'ip-rules', 'removed', old.id)::text;
  end if;
  if sent > ${MAX_NOTICES_PER_TRANSACTION} then notice := '{"kind":"resync"}'; end if;
  perform pg_notify(channel, notice);
  perform set_config('keyguard.notices_sent', sent::text, true);
  return null;
end
$fn$`)
    .execute(db);
  for (const statement of [
    `create trigger keyguard_ip_rule_changed after insert or update or delete on ip_rules
       for each row execute procedure keyguard_notify_ip_rule()`,
    `create trigger keyguard_ip_rules_truncated after truncate on ip_rules
       for each statement execute procedure keyguard_notify_ip_rule()`,
  ]) {
    await sql.raw(statement).execute(db);
  }
}

async function sqliteRuleNotices(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    `create trigger keyguard_ip_rule_inserted after insert on ip_rules begin
       insert into keyguard_changes (notice) values (json_object('kind', 'ip-rules', 'added',
         json_object('id', new.id, 'cidr', new.cidr, 'action', new.action)));
     end`,
    `create trigger keyguard_ip_rule_updated after update on ip_rules begin
       insert into keyguard_changes (notice) values ('{"kind":"ip-rules"}');
     end`,
    `create trigger keyguard_ip_rule_deleted after delete on ip_rules begin
       insert into keyguard_changes (notice) values (json_object('kind', 'ip-rules', 'removed', old.id));
     end`,
  ]) {
    await sql.raw(statement).execute(db);
  }
}

import { type Kysely, type Migration, sql } from "kysely";
import type { SqlDialect } from "../column-codec.js";

/**
 * Most notices one PostgreSQL transaction sends before it sends a single `resync` instead
 * (a bulk import, an `UPDATE` of every key by hand): listeners then drop their caches once
 * rather than read thousands of notices.
 */
export const MAX_NOTICES_PER_TRANSACTION = 100;
/** The SQLite change log: bookkeeping, like the migration table (never copied or exported). */
export const CHANGE_LOG_TABLE = "keyguard_changes";
/** Rows the SQLite change log keeps; a process further behind than this resyncs. */
export const SQLITE_CHANGE_LOG_ROWS = 1_000;
/** Largest PostgreSQL notice payload sent (NOTIFY refuses 8,000 bytes and more). */
export const MAX_NOTICE_BYTES = 7_900;

/**
 * Change notices written by the database itself, in the transaction of the change, so
 * every writer is heard: this version of KeyGuard, an older CLI, SQL typed by hand.
 * PostgreSQL: row triggers `NOTIFY` the schema's channel (see `changeChannelOf`), delivered
 * at commit. SQLite: the same triggers append to `keyguard_changes`, which every process
 * polls. Usage writes (`last_used_at` moving forward), deletions of blocks that had ended
 * and new keys or organizations (nothing can have cached them: a raw key is unknown before
 * it is made) change nothing a process caches, and notify nothing.
 */
export function changeNotices(dialect: SqlDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect === "postgres") await postgresTriggers(db);
      else await sqliteTriggers(db);
    },
  };
}

async function postgresTriggers(db: Kysely<unknown>): Promise<void> {
  // One function for the three tables. The channel is per schema (one deployment per
  // schema): "keyguard_<schema>", or an md5 of a name too long for a channel (63 bytes).
  await sql
    .raw(`
create or replace function keyguard_notify_change() returns trigger language plpgsql as $fn$
declare
  channel text := case when octet_length(tg_table_schema) <= 54
    then 'keyguard_' || tg_table_schema else 'keyguard_' || md5(tg_table_schema) end;
  sent integer := coalesce(nullif(current_setting('keyguard.notices_sent', true), ''), '0')::integer;
  notices text[] := '{}';
  notice text;
  block jsonb;
begin
  if sent > ${MAX_NOTICES_PER_TRANSACTION} then return null; end if;
  if tg_op = 'TRUNCATE' then
    notices := array['{"kind":"resync"}'];
  elsif tg_table_name = 'api_keys' then
    notices := array[json_build_object('kind', 'api-key', 'keyHash', old.key_hash)::text];
    if tg_op = 'UPDATE' and new.key_hash is distinct from old.key_hash then
      notices := notices || json_build_object('kind', 'api-key', 'keyHash', new.key_hash)::text;
    end if;
  elsif tg_table_name = 'organizations' then
    notices := array[json_build_object('kind', 'organization', 'id', old.id)::text];
  elsif tg_table_name = 'ip_blocks' then
    if tg_op = 'DELETE' then
      notices := array[json_build_object('kind', 'ip-blocks', 'client', old.client, 'stored', true)::text];
    else
      block := jsonb_strip_nulls(jsonb_build_object(
        'client', new.client, 'scope', new.scope, 'path', new.path, 'reason', new.reason,
        'untilMs', floor(extract(epoch from new.until) * 1000)::bigint,
        'automatic', new.automatic));
      notice := json_build_object('kind', 'ip-blocks', 'client', new.client, 'stored', true,
        'block', block)::text;
      -- A block too large to announce (a long path in a wide script): everyone re-reads.
      if octet_length(notice) > ${MAX_NOTICE_BYTES} then notice := '{"kind":"resync"}'; end if;
      notices := array[notice];
    end if;
  end if;
  foreach notice in array notices loop
    sent := sent + 1;
    if sent > ${MAX_NOTICES_PER_TRANSACTION} then
      perform pg_notify(channel, '{"kind":"resync"}');
      exit;
    end if;
    perform pg_notify(channel, notice);
  end loop;
  perform set_config('keyguard.notices_sent', sent::text, true);
  return null;
end
$fn$`)
    .execute(db);
  const each = "for each row execute procedure keyguard_notify_change()";
  const statements = [
    `create trigger keyguard_api_key_deleted after delete on api_keys ${each}`,
    // Every column but the one usage writes move (to_jsonb covers columns added later).
    `create trigger keyguard_api_key_changed after update on api_keys for each row
       when ((to_jsonb(old) - 'last_used_at') is distinct from (to_jsonb(new) - 'last_used_at'))
       execute procedure keyguard_notify_change()`,
    `create trigger keyguard_organization_changed after update on organizations for each row
       when (to_jsonb(old) is distinct from to_jsonb(new)) execute procedure keyguard_notify_change()`,
    `create trigger keyguard_organization_deleted after delete on organizations ${each}`,
    `create trigger keyguard_ip_block_written after insert or update on ip_blocks ${each}`,
    // Deleting a block that had ended lifts nothing (the hourly sweep of automatic ones).
    `create trigger keyguard_ip_block_deleted after delete on ip_blocks for each row
       when (old.until > now()) execute procedure keyguard_notify_change()`,
  ];
  for (const table of ["api_keys", "organizations", "ip_blocks"]) {
    statements.push(
      `create trigger keyguard_${table}_truncated after truncate on ${table}
         for each statement execute procedure keyguard_notify_change()`,
    );
  }
  for (const statement of statements) await sql.raw(statement).execute(db);
}

async function sqliteTriggers(db: Kysely<unknown>): Promise<void> {
  const now = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
  const keyNotice = (row: "old" | "new") =>
    `insert into keyguard_changes (notice) values (json_object('kind', 'api-key', 'keyHash', ${row}.key_hash))`;
  const blockNotice = `json_object('kind', 'ip-blocks', 'client', new.client, 'stored', json('true'),
      'block', json_object('client', new.client, 'scope', new.scope, 'path', new.path,
        'reason', new.reason, 'automatic', json(case when new.automatic then 'true' else 'false' end),
        'untilMs', cast(strftime('%s', new.until) as integer) * 1000
          + cast(substr(strftime('%f', new.until), 4) as integer)))`;
  // An update that does not move last_used_at (anything but a usage write), or one that
  // changes a column a process caches alongside it.
  const cachedColumns = [
    "id",
    "org_id",
    "label",
    "prefix",
    "key_hash",
    "key_hash_scheme",
    "is_active",
    "scopes",
    "rate_limit_per_minute",
    "monthly_limit",
    "expires_at",
    "quota_id",
    "replaced_by",
  ];
  const statements = [
    `create table keyguard_changes (
       seq integer primary key autoincrement,
       notice text not null
     )`,
    `create trigger keyguard_changes_bounded after insert on keyguard_changes begin
       delete from keyguard_changes where seq <= new.seq - ${SQLITE_CHANGE_LOG_ROWS};
     end`,
    `create trigger keyguard_api_key_deleted after delete on api_keys begin ${keyNotice("old")}; end`,
    `create trigger keyguard_api_key_changed after update on api_keys
       when old.last_used_at is new.last_used_at
         or ${cachedColumns.map((column) => `old.${column} is not new.${column}`).join(" or ")}
     begin
       ${keyNotice("old")};
       insert into keyguard_changes (notice)
         select json_object('kind', 'api-key', 'keyHash', new.key_hash)
         where new.key_hash is not old.key_hash;
     end`,
    `create trigger keyguard_organization_changed after update on organizations begin
       insert into keyguard_changes (notice) values (json_object('kind', 'organization', 'id', old.id));
     end`,
    `create trigger keyguard_organization_deleted after delete on organizations begin
       insert into keyguard_changes (notice) values (json_object('kind', 'organization', 'id', old.id));
     end`,
    `create trigger keyguard_ip_block_inserted after insert on ip_blocks begin
       insert into keyguard_changes (notice) values (${blockNotice});
     end`,
    `create trigger keyguard_ip_block_updated after update on ip_blocks begin
       insert into keyguard_changes (notice) values (${blockNotice});
     end`,
    `create trigger keyguard_ip_block_deleted after delete on ip_blocks when old.until > ${now} begin
       insert into keyguard_changes (notice)
         values (json_object('kind', 'ip-blocks', 'client', old.client, 'stored', json('true')));
     end`,
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

import {
  type DatabaseIntrospector,
  type Kysely,
  type SchemaMetadata,
  sql,
  type TableMetadata,
} from "kysely";

/**
 * The database as Kysely's migrator should see it on PostgreSQL: one schema only.
 *
 * The migrator asks `db.introspection` whether its own two tables exist, and Kysely's
 * PostgreSQL introspector answers by reading every column of every table in every schema
 * (`pg_get_serial_sequence` included). In a database shared with other applications, or with
 * other test runs, a table altered or a schema dropped during that scan fails the whole
 * migration ("column … of relation … does not exist"), and the scan grows with every schema.
 * Only the migrator reads `introspection`, and only to find its tables in `schema`; this view
 * answers exactly that, from `information_schema`, and passes everything else through.
 */
export function withSchemaScopedIntrospection<DB>(db: Kysely<DB>, schema: string): Kysely<DB> {
  const introspection = new SchemaScopedIntrospector(db as Kysely<unknown>, schema);
  return new Proxy(db, {
    get(target, property) {
      if (property === "introspection") return introspection;
      // Kysely keeps its state in private fields, which only the real instance can read.
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

class SchemaScopedIntrospector implements DatabaseIntrospector {
  readonly #db: Kysely<unknown>;
  readonly #schema: string;

  constructor(db: Kysely<unknown>, schema: string) {
    this.#db = db;
    this.#schema = schema;
  }

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace
      where nspname = ${this.#schema}`.execute(this.#db);
    return rows.map(({ name }) => ({ name }));
  }

  async getTables(): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; type: string }>`select table_name as name,
        table_type as type from information_schema.tables
      where table_schema = ${this.#schema}`.execute(this.#db);
    // Columns are left out: the migrator only looks for tables by name.
    return rows.map(({ name, type }) => ({
      name,
      schema: this.#schema,
      isView: type === "VIEW",
      columns: [],
    }));
  }

  async getMetadata(): Promise<{ tables: TableMetadata[] }> {
    return { tables: await this.getTables() };
  }
}

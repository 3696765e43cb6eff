/** A ClickHouse server (18.16 or later) through `@clickhouse/client`, selected by `CLICKHOUSE_URL`. */
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { type AnalyticsStore, AnalyticsStoreError, checkTableName, insertTarget, SERVER_SETTINGS } from './analytics-store.port';
import { identifier, sql, type Sql } from './sql';

export class ClickHouseServerAnalyticsStore implements AnalyticsStore {
  readonly kind = 'clickhouse' as const;

  private constructor(
    private readonly client: ClickHouseClient,
    readonly database: string,
  ) {}

  /** Connects and creates the URL's database (`/herald` in `http://default:@127.0.0.1:8123/herald`) if missing. */
  static async connect(url: string): Promise<ClickHouseServerAnalyticsStore> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new AnalyticsStoreError(`CLICKHOUSE_URL is not a URL: ${url}`);
    }
    const database = decodeURIComponent(parsed.pathname.replace(/^\/+|\/+$/g, '')) || 'default';
    const common = {
      url: `${parsed.protocol}//${parsed.host}`,
      username: decodeURIComponent(parsed.username) || 'default',
      password: decodeURIComponent(parsed.password),
      clickhouse_settings: SERVER_SETTINGS,
    };
    const admin = createClient(common);
    try {
      await admin.command({ query: sql`CREATE DATABASE IF NOT EXISTS ${identifier(database)}`.text });
    } catch (error) {
      throw new AnalyticsStoreError(`Cannot reach ClickHouse at ${parsed.host}: ${(error as Error).message}`, { cause: error });
    } finally {
      await admin.close();
    }
    return new ClickHouseServerAnalyticsStore(createClient({ ...common, database }), database);
  }

  async command(statement: Sql): Promise<void> {
    await this.wrap(() => this.client.command({ query: statement.text }));
  }

  async insert(table: string, rows: readonly object[]): Promise<void> {
    if (rows.length === 0) return;
    checkTableName(table);
    await this.wrap(() => this.client.insert({ table, values: rows as object[], format: 'JSONEachRow' }));
  }

  async insertTabSeparated(table: string, columns: readonly string[], payload: Uint8Array): Promise<void> {
    const target = insertTarget(table, columns);
    if (payload.length === 0) return;
    // The bytes go to the server as they are (the client's `insert` takes only objects for JSON formats).
    await this.wrap(async () => {
      const { stream } = await this.client.exec({
        query: `INSERT INTO ${target} FORMAT TabSeparated`,
        values: Readable.from([payload], { objectMode: false }),
      });
      stream.resume();
      await finished(stream);
    });
  }

  async query<T = Record<string, unknown>>(statement: Sql): Promise<T[]> {
    return this.wrap(async () => (await this.client.query({ query: statement.text, format: 'JSONEachRow' })).json<T>());
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async wrap<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw new AnalyticsStoreError((error as Error).message, { cause: error });
    }
  }
}

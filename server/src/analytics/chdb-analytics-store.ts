/**
 * Embedded ClickHouse (chDB) in this process, persisted in a folder (`DATA_DIR/analytics`).
 *
 * chDB's `Session.query` is synchronous and would stop the event loop for the whole statement, so
 * this adapter uses only the async entry points (`queryAsync`, raw `insert`), which run the engine
 * on a libuv worker thread. The engine still shares the process's cores with the server, which is
 * why the sink inserts in large batches (one insert per up to 20,000 events) rather than per event.
 *
 * libchdb binds one data folder per process: a second store on another folder is refused until
 * the first is closed (chDB's `drainPending()` is awaited on close for that reason).
 */
import { mkdirSync } from 'node:fs';
import { type AnalyticsStore, AnalyticsStoreError, checkTableName, insertTarget, parseJsonEachRow } from './analytics-store.port';
import type { Sql } from './sql';

type ChdbModule = typeof import('chdb');

export class ChdbAnalyticsStore implements AnalyticsStore {
  readonly kind = 'chdb' as const;
  private readonly session: InstanceType<ChdbModule['Session']>;

  constructor(
    readonly folder: string,
    private readonly chdb: ChdbModule = require('chdb') as ChdbModule,
  ) {
    mkdirSync(folder, { recursive: true });
    try {
      this.session = new chdb.Session(folder);
    } catch (error) {
      throw new AnalyticsStoreError(`Cannot open embedded ClickHouse in ${folder}: ${(error as Error).message}`, { cause: error });
    }
  }

  async command(statement: Sql): Promise<void> {
    await this.run(statement.text, 'TabSeparated');
  }

  async insert(table: string, rows: readonly object[]): Promise<void> {
    if (rows.length === 0) return;
    await this.insertRaw(checkTableName(table), Buffer.from(rows.map((row) => JSON.stringify(row)).join('\n')), 'JSONEachRow');
  }

  async insertTabSeparated(table: string, columns: readonly string[], payload: Uint8Array): Promise<void> {
    insertTarget(table, columns);
    await this.insertRaw(table, payload, 'TabSeparated', columns);
  }

  private async insertRaw(table: string, payload: Uint8Array, format: 'JSONEachRow' | 'TabSeparated', columns?: readonly string[]): Promise<void> {
    if (payload.length === 0) return;
    try {
      await this.session.insert({ table, values: payload, format, columns });
    } catch (error) {
      throw new AnalyticsStoreError(`Insert into ${table} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async query<T = Record<string, unknown>>(statement: Sql): Promise<T[]> {
    return parseJsonEachRow<T>(await this.run(statement.text, 'JSONEachRow'));
  }

  async close(): Promise<void> {
    this.session.close();
    await this.chdb.drainPending();
  }

  private async run(text: string, format: string): Promise<string> {
    try {
      return (await this.session.queryAsync(text, { format })).text();
    } catch (error) {
      throw new AnalyticsStoreError((error as Error).message, { cause: error });
    }
  }
}

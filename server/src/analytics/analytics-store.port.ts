/**
 * Where analytics rows live: ClickHouse, embedded (chDB) or a server. Both adapters take the same
 * SQL (built with `sql`, escaped on the client) and the same rows (JSONEachRow objects, or the
 * sink's TabSeparated payloads).
 */
import type { Sql } from './sql';

export interface AnalyticsStore {
  readonly kind: 'chdb' | 'clickhouse';
  /** A statement without a result (DDL, ALTER, OPTIMIZE). */
  command(statement: Sql): Promise<void>;
  /** Rows as JSONEachRow, in one insert; `table` is a plain name ([A-Za-z0-9_]). */
  insert(table: string, rows: readonly object[]): Promise<void>;
  /**
   * Rows already serialised as TabSeparated (UTF-8, one row per line, `columns` in that order), in one
   * insert; the bytes are handed to the engine as they are. The caller must not change them until the
   * promise settles.
   */
  insertTabSeparated(table: string, columns: readonly string[], payload: Uint8Array): Promise<void>;
  /** Rows of a SELECT as objects. 64-bit integers arrive as strings (ClickHouse's JSON default). */
  query<T = Record<string, unknown>>(statement: Sql): Promise<T[]>;
  close(): Promise<void>;
}

/** ClickHouse refused or could not be reached; the message is ClickHouse's. */
export class AnalyticsStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AnalyticsStoreError';
  }
}

export const ANALYTICS_STORE = Symbol('AnalyticsStore');

/** Settings sent with every statement to a ClickHouse server (chDB is recent enough not to need them). */
export const SERVER_SETTINGS = {
  // ISO-8601 and other usual forms in DateTime columns (18.16 parses only `YYYY-MM-DD hh:mm:ss` by default).
  date_time_input_format: 'best_effort',
} as const;

/** Insert targets are names from this codebase; anything else is refused before reaching SQL. */
export function checkTableName(table: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new AnalyticsStoreError(`Not a plain table or column name: ${JSON.stringify(table)}`);
  return table;
}

/** `INSERT INTO table (columns)`, with both checked as plain names. */
export function insertTarget(table: string, columns: readonly string[]): string {
  for (const column of columns) checkTableName(column);
  return `${checkTableName(table)} (${columns.join(', ')})`;
}

export function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) if (line.length > 0) rows.push(JSON.parse(line) as T);
  return rows;
}

/**
 * The engines the analytics suites run against: chDB always, and the ClickHouse server at
 * `CLICKHOUSE_URL` when it is set (`.ci/run` starts Debian's 18.16 and sets it). Each suite gets its
 * own database on the server, dropped afterwards, so suites never see each other's rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AnalyticsStore } from './analytics-store.port';
import { ChdbAnalyticsStore } from './chdb-analytics-store';
import { ClickHouseServerAnalyticsStore } from './clickhouse-server-analytics-store';
import { identifier, sql } from './sql';

export const CLICKHOUSE_URL = process.env.CLICKHOUSE_URL || undefined;

export interface AnalyticsEngine {
  name: string;
  /** A new, empty store; `dispose` drops what it created. */
  open(): Promise<{ store: AnalyticsStore; url?: string; dataDir?: string; dispose(): Promise<void> }>;
}

export const chdbEngine: AnalyticsEngine = {
  name: 'chDB (embedded)',
  async open() {
    const folder = mkdtempSync(join(tmpdir(), 'herald-chdb-'));
    const store = new ChdbAnalyticsStore(join(folder, 'analytics'));
    return {
      store,
      dataDir: folder,
      dispose: async () => {
        await store.close();
        rmSync(folder, { recursive: true, force: true });
      },
    };
  },
};

/** A URL like CLICKHOUSE_URL with a fresh database of its own. */
export function freshDatabaseUrl(base: string): string {
  const url = new URL(base);
  url.pathname = `/herald_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  return url.toString();
}

export const serverEngine: AnalyticsEngine | undefined = CLICKHOUSE_URL
  ? {
      name: 'ClickHouse server at CLICKHOUSE_URL',
      async open() {
        const url = freshDatabaseUrl(CLICKHOUSE_URL);
        const store = await ClickHouseServerAnalyticsStore.connect(url);
        return {
          store,
          url,
          dispose: async () => {
            await store.command(sql`DROP DATABASE IF EXISTS ${identifier(store.database)}`);
            await store.close();
          },
        };
      },
    }
  : undefined;

export const analyticsEngines: AnalyticsEngine[] = serverEngine ? [chdbEngine, serverEngine] : [chdbEngine];

/** Said once per suite, plainly, so a run without a server is never mistaken for a full one. */
export function warnIfNoServer(suite: string): void {
  if (!CLICKHOUSE_URL) {
    console.warn(
      `${suite}: ClickHouse server run NOT done: CLICKHOUSE_URL is not set (only chDB was tested). .ci/run starts Debian's clickhouse-server 18.16 and sets it; locally: .ci/start-clickhouse /tmp/ch && CLICKHOUSE_URL=http://default:@127.0.0.1:8123/herald npx jest src/analytics`,
    );
  }
}

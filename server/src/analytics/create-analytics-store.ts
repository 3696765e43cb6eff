import { join } from 'node:path';
import type { AnalyticsStore } from './analytics-store.port';
import { ChdbAnalyticsStore } from './chdb-analytics-store';
import { ClickHouseServerAnalyticsStore } from './clickhouse-server-analytics-store';

/** A ClickHouse server when `clickhouseUrl` is set, else embedded chDB under `DATA_DIR/analytics`. */
export async function createAnalyticsStore(config: { dataDir: string; clickhouseUrl?: string }): Promise<AnalyticsStore> {
  if (config.clickhouseUrl) return ClickHouseServerAnalyticsStore.connect(config.clickhouseUrl);
  return new ChdbAnalyticsStore(join(config.dataDir, 'analytics'));
}

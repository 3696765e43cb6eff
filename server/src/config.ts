/** Settings come from the environment once, at start; nothing else reads process.env. */
import { resolve } from 'node:path';

export interface HeraldConfig {
  port: number;
  host: string;
  dataDir: string;
  /** KurrentDB/EventStoreDB connection string; the embedded SQLite log when unset. */
  eventStoreUrl?: string;
  adminToken?: string;
  defaultWriteKey?: string;
  logLevel: string;
  /** Where the built dashboard is; served at `/` when it exists. */
  dashboardDir: string;
  /** Delay before a failed webhook's first retry (doubles each retry). */
  webhookRetryBaseMs: number;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): HeraldConfig {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${env.PORT}`);
  return {
    port,
    host: env.HOST ?? '0.0.0.0',
    dataDir: resolve(env.DATA_DIR ?? './data'),
    eventStoreUrl: env.EVENTSTORE_URL || undefined,
    adminToken: env.ADMIN_TOKEN || undefined,
    defaultWriteKey: env.DEFAULT_WRITE_KEY || undefined,
    logLevel: env.LOG_LEVEL ?? 'info',
    dashboardDir: resolve(env.DASHBOARD_DIR ?? resolve(__dirname, '../../dashboard/dist')),
    webhookRetryBaseMs: Number(env.WEBHOOK_RETRY_BASE_MS ?? 500),
  };
}

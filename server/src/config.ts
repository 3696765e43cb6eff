/** Settings come from the environment once, at start; nothing else reads process.env. */
import { resolve } from 'node:path';

/**
 * What a process runs (HERALD_ROLE): `all` (the default) is the whole of Herald; `ingest` is a
 * stateless ingestion node, the tracking API only, appending to the log that an `all` process (the
 * workers: projections, scenarios, sending, the dashboard's API) follows (docs/deployment.md).
 */
export type HeraldRole = 'all' | 'ingest';

export interface HeraldConfig {
  role: HeraldRole;
  port: number;
  host: string;
  dataDir: string;
  /**
   * Where this process keeps its projection state: DATA_DIR for `all`; for an ingestion node its own
   * folder (STATE_DIR, default DATA_DIR/ingest-node-PORT), as several may share one data folder.
   */
  stateDir: string;
  /** KurrentDB/EventStoreDB connection string; the embedded SQLite log when unset. */
  eventStoreUrl?: string;
  /** The SQLite log commits on a writer thread (SQLITE_WRITER_THREAD=0 commits on the event loop). */
  sqliteWriterThread?: boolean;
  /** Ingestion nodes in other processes append to the embedded log too (SQLITE_SHARED=1; always so on one). */
  sqliteShared: boolean;
  adminToken?: string;
  defaultWriteKey?: string;
  logLevel: string;
  /** Where the built dashboard is; served at `/` when it exists. */
  dashboardDir: string;
  /** Delay before a failed webhook's first retry (doubles each retry). */
  webhookRetryBaseMs: number;
  /** Webhook calls in flight at most (WEBHOOK_CONCURRENCY). */
  webhookConcurrency: number;
  /** How long one webhook attempt may take (WEBHOOK_TIMEOUT_MS). */
  webhookTimeoutMs: number;
  /** Public base URL for links in messages (tracking, unsubscribe, preferences); PUBLIC_URL. */
  publicUrl: string;
  /** Secret for signed links; generated once into DATA_DIR when unset (set it on every node of a cluster). */
  linkSecret?: string;
  channels: ChannelsConfig;
  analytics: AnalyticsConfig;
}

/**
 * Events per insert at most (ANALYTICS_BATCH_SIZE). Live, a batch rarely fills: at 5,000 events/s
 * the one-second window closes it first. Catching up (a start, a replay, a burst), each insert is a
 * part on disk that ClickHouse merges later: in bench:analytics, inserts of 20,000 instead of 5,000
 * cut chDB's background merges from 15-20 to about 7 µs of CPU per event and the insert itself from
 * about 10 to 8-9.
 */
export const DEFAULT_ANALYTICS_BATCH = 20_000;

/** The analytics sink: embedded chDB under DATA_DIR/analytics, or the ClickHouse server at CLICKHOUSE_URL. */
export interface AnalyticsConfig {
  /** ANALYTICS=off turns the sink and the analytics API off. */
  enabled: boolean;
  /** e.g. `http://default:@127.0.0.1:8123/herald`; the database is created if missing. */
  clickhouseUrl?: string;
  /** Events per insert at most (ANALYTICS_BATCH_SIZE). */
  maxBatch: number;
  /** How long a batch stays open for more events after its first (ANALYTICS_FLUSH_MS). */
  maxWaitMs: number;
}

/** A channel is configured when its variables are set; otherwise messages go to the sandbox. */
export interface ChannelsConfig {
  email?: { smtpUrl: string; from: string; unsubscribeMailto?: string };
  twilio?: { accountSid: string; authToken: string; from?: string; whatsappFrom?: string; apiUrl?: string };
  telegram?: { botToken: string; apiUrl?: string; webhookSecret?: string };
  /** Web push is on by default (VAPID keys are generated into DATA_DIR); WEB_PUSH=off turns it off. */
  webPush: { enabled: boolean; subject: string };
  dispatch: { concurrency: number; maxAttempts: number; retryBaseMs: number };
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): HeraldConfig {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${env.PORT}`);
  const role = env.HERALD_ROLE || 'all';
  if (role !== 'all' && role !== 'ingest') throw new Error(`HERALD_ROLE must be "all" or "ingest", got ${env.HERALD_ROLE}`);
  const dataDir = resolve(env.DATA_DIR ?? './data');
  return {
    role,
    port,
    host: env.HOST ?? '0.0.0.0',
    dataDir,
    stateDir: role === 'ingest' ? resolve(env.STATE_DIR || resolve(dataDir, `ingest-node-${port}`)) : dataDir,
    eventStoreUrl: env.EVENTSTORE_URL || undefined,
    sqliteWriterThread: env.SQLITE_WRITER_THREAD !== '0',
    sqliteShared: role === 'ingest' || env.SQLITE_SHARED === '1',
    adminToken: env.ADMIN_TOKEN || undefined,
    defaultWriteKey: env.DEFAULT_WRITE_KEY || undefined,
    logLevel: env.LOG_LEVEL ?? 'info',
    dashboardDir: resolve(env.DASHBOARD_DIR ?? resolve(__dirname, '../../dashboard/dist')),
    webhookRetryBaseMs: positiveInteger('WEBHOOK_RETRY_BASE_MS', env.WEBHOOK_RETRY_BASE_MS, 500),
    webhookConcurrency: positiveInteger('WEBHOOK_CONCURRENCY', env.WEBHOOK_CONCURRENCY, 32),
    webhookTimeoutMs: positiveInteger('WEBHOOK_TIMEOUT_MS', env.WEBHOOK_TIMEOUT_MS, 10_000),
    publicUrl: (env.PUBLIC_URL || `http://localhost:${port}`).replace(/\/$/, ''),
    linkSecret: env.LINK_SECRET || undefined,
    channels: {
      email: env.SMTP_URL ? { smtpUrl: env.SMTP_URL, from: env.EMAIL_FROM || 'Herald <herald@localhost>', unsubscribeMailto: env.UNSUBSCRIBE_MAILTO || undefined } : undefined,
      twilio:
        env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN
          ? {
              accountSid: env.TWILIO_ACCOUNT_SID,
              authToken: env.TWILIO_AUTH_TOKEN,
              from: env.TWILIO_FROM || undefined,
              whatsappFrom: env.TWILIO_WHATSAPP_FROM || undefined,
              apiUrl: env.TWILIO_API_URL || undefined,
            }
          : undefined,
      telegram: env.TELEGRAM_BOT_TOKEN
        ? { botToken: env.TELEGRAM_BOT_TOKEN, apiUrl: env.TELEGRAM_API_URL || undefined, webhookSecret: env.TELEGRAM_WEBHOOK_SECRET || undefined }
        : undefined,
      webPush: { enabled: env.WEB_PUSH !== 'off', subject: env.VAPID_SUBJECT || 'mailto:herald@localhost' },
      dispatch: {
        // Refused at start when not whole numbers: NaN here would stop sending or retrying without a word.
        concurrency: positiveInteger('DISPATCH_CONCURRENCY', env.DISPATCH_CONCURRENCY, 32),
        maxAttempts: positiveInteger('DISPATCH_MAX_ATTEMPTS', env.DISPATCH_MAX_ATTEMPTS, 4),
        retryBaseMs: positiveInteger('DISPATCH_RETRY_BASE_MS', env.DISPATCH_RETRY_BASE_MS, 1000),
      },
    },
    analytics: {
      enabled: env.ANALYTICS !== 'off',
      clickhouseUrl: env.CLICKHOUSE_URL || undefined,
      maxBatch: positiveInteger('ANALYTICS_BATCH_SIZE', env.ANALYTICS_BATCH_SIZE, DEFAULT_ANALYTICS_BATCH),
      maxWaitMs: positiveInteger('ANALYTICS_FLUSH_MS', env.ANALYTICS_FLUSH_MS, 1000),
    },
  };
}

function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return parsed;
}

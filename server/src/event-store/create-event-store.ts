import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HeraldConfig } from '../config';
import type { EventStore } from './event-store.port';
import { notSharedReason } from './sqlite/shared-log-marker';
import { SqliteEventStore } from './sqlite/sqlite-event-store';

/** KurrentDB when EVENTSTORE_URL is set, else the embedded SQLite log under DATA_DIR. */
export function createEventStore(
  config: Pick<HeraldConfig, 'eventStoreUrl' | 'dataDir' | 'sqliteWriterThread'> & Partial<Pick<HeraldConfig, 'sqliteShared' | 'role'>>,
  options: { readonly?: boolean } = {},
): EventStore {
  if (config.eventStoreUrl) {
    // Loaded lazily: the gRPC client is only needed when a KurrentDB server is used.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { KurrentDbEventStore } = require('./kurrentdb/kurrentdb-event-store') as typeof import('./kurrentdb/kurrentdb-event-store');
    return new KurrentDbEventStore(config.eventStoreUrl);
  }
  const path = join(config.dataDir, 'events.sqlite');
  if (options.readonly && !existsSync(path)) {
    throw new Error(`No Herald event log at ${path}: start Herald once, or point DATA_DIR (--data-dir) at its data folder`);
  }
  return new SqliteEventStore({
    path,
    readonly: options.readonly,
    shared: config.sqliteShared,
    writerThread: config.sqliteWriterThread,
    // Checked before every commit (a file's existence, a few µs for hundreds of appends): an
    // ingestion node stops at once when its main process restarts as the log's only writer.
    refuseCommits: config.role === 'ingest' ? () => notSharedReason(config.dataDir) : undefined,
  });
}

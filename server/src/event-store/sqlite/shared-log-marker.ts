/**
 * Whether the embedded log may be written by ingestion nodes. A process that is the log's only writer
 * answers some reads from what it wrote itself (SqliteEventStore), which another writer would make
 * stale; so the main process records how it opened the log, in a file beside it, and an ingestion
 * node appends only while that file says the log is shared.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MARKER = 'events.sqlite.shared';

/** Called by the main (`all`) process when it opens the log. */
export function recordLogSharing(dataDir: string, shared: boolean): void {
  const path = join(dataDir, MARKER);
  if (shared) writeFileSync(path, 'SQLITE_SHARED=1: ingestion nodes may append to events.sqlite\n');
  else rmSync(path, { force: true });
}

function logIsShared(dataDir: string): boolean {
  return existsSync(join(dataDir, MARKER));
}

/** Why an ingestion node may not append to the log in `dataDir`, or undefined while it may. */
export function notSharedReason(dataDir: string): string | undefined {
  return logIsShared(dataDir)
    ? undefined
    : 'The event log is not shared: its main Herald process must run with SQLITE_SHARED=1 for ingestion nodes to append to it';
}

/** The identity index: which anonymous ids and earlier user ids belong to which user, per workspace. */
import { IDENTITY_LINKED, type IdentityKey, type IdentityLink } from '@herald/projections';
import type { Statement } from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection } from '../projection-runner/projection-runner';
import type { StateDb } from '../state/state-db';

export { IDENTITY_LINKED };

type InsertLink = Statement<[workspace: string, key: string, userId: string, position: number]>;
const insertStatements = new WeakMap<StateDb, InsertLink>();
function insertLink(db: StateDb) {
  let statement = insertStatements.get(db);
  if (!statement) {
    statement = db.prepare<[string, string, string, number]>('INSERT OR IGNORE INTO identity_links (workspace, key, user_id, position) VALUES (?, ?, ?, ?)');
    insertStatements.set(db, statement);
  }
  return statement;
}

/**
 * Answers of the identity index already read, per state database: `null` is a key with no link.
 * Ingestion looks up every message's user id, and nearly all have no link; an autocommit read per
 * lookup cost ~10% of `/v1/track`'s CPU (WAL locking syscalls). Links are only ever added, and only
 * by `apply` below, which forgets the key, so a cached answer is never stale.
 */
const lookups = new WeakMap<StateDb, Map<string, string | null>>();
const MAX_CACHED_LOOKUPS = 200_000;
function lookupCache(db: StateDb): Map<string, string | null> {
  let cache = lookups.get(db);
  if (!cache) lookups.set(db, (cache = new Map()));
  return cache;
}

export const identityProjection: HostedProjection = {
  name: 'identity',
  filter: { eventTypes: [IDENTITY_LINKED] },
  setup(db: StateDb) {
    db.exec(`CREATE TABLE IF NOT EXISTS identity_links (
      workspace TEXT NOT NULL, key TEXT NOT NULL, user_id TEXT NOT NULL, position INTEGER NOT NULL,
      PRIMARY KEY (workspace, key)) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS identity_links_by_user ON identity_links (workspace, user_id);`);
  },
  apply(db: StateDb, event: RecordedEvent) {
    const link = event.data as IdentityLink;
    // First link of a key wins (see projections/identity): INSERT OR IGNORE keeps it.
    insertLink(db).run(
      event.metadata.workspace,
      link.key,
      link.userId,
      event.position,
    );
    // Read again on the next lookup (the stored link may be an earlier one, which won).
    lookupCache(db).delete(`${event.metadata.workspace}|${link.key}`);
  },
  reset(db: StateDb) {
    db.exec('DROP TABLE IF EXISTS identity_links');
    lookupCache(db).clear();
  },
};

/** Prepared reads of the identity index (preparing a statement costs more than running it). */
export class IdentityIndexReader {
  private readonly link;
  private readonly linkedTo;
  private readonly cache;

  constructor(db: StateDb) {
    identityProjection.setup(db);
    this.cache = lookupCache(db);
    this.link = db.prepare<[string, string], { user_id: string }>('SELECT user_id FROM identity_links WHERE workspace = ? AND key = ?');
    this.linkedTo = db.prepare<[string, string], { key: IdentityKey }>(
      'SELECT key FROM identity_links WHERE workspace = ? AND user_id = ? ORDER BY position',
    );
  }

  lookup(workspace: string, key: IdentityKey): string | undefined {
    const cacheKey = `${workspace}|${key}`;
    const cached = this.cache.get(cacheKey);
    if (cached !== undefined) return cached ?? undefined;
    const userId = this.link.get(workspace, key)?.user_id;
    // Dropping everything at the bound is cheaper than tracking recency, and refills at ~5 µs a key.
    if (this.cache.size >= MAX_CACHED_LOOKUPS) this.cache.clear();
    this.cache.set(cacheKey, userId ?? null);
    return userId;
  }

  keysLinkedTo(workspace: string, userId: string): IdentityKey[] {
    return this.linkedTo.all(workspace, userId).map((row) => row.key);
  }
}

/** The identity index: which anonymous ids and earlier user ids belong to which user, per workspace. */
import type { IdentityKey, IdentityLink } from '@herald/projections';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection } from '../projection-runner/projection-runner';
import type { StateDb } from '../state/state-db';

export const IDENTITY_LINKED = 'IdentityLinked';

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
    db.prepare('INSERT OR IGNORE INTO identity_links (workspace, key, user_id, position) VALUES (?, ?, ?, ?)').run(
      event.metadata.workspace,
      link.key,
      link.userId,
      event.position,
    );
  },
  reset(db: StateDb) {
    db.exec('DROP TABLE IF EXISTS identity_links');
  },
};

export function lookupLink(db: StateDb, workspace: string, key: IdentityKey): string | undefined {
  return db
    .prepare<[string, string], { user_id: string }>('SELECT user_id FROM identity_links WHERE workspace = ? AND key = ?')
    .get(workspace, key)?.user_id;
}

export function keysLinkedTo(db: StateDb, workspace: string, userId: string): IdentityKey[] {
  return db
    .prepare<[string, string], { key: IdentityKey }>('SELECT key FROM identity_links WHERE workspace = ? AND user_id = ? ORDER BY position')
    .all(workspace, userId)
    .map((row) => row.key);
}

/** The identity index: which anonymous ids and earlier user ids belong to which user, per workspace. */
import type { IdentityKey, IdentityLink } from '@herald/projections';
import type { Statement } from 'better-sqlite3';
import type { RecordedEvent } from '../event-store/event-store.port';
import type { HostedProjection } from '../projection-runner/projection-runner';
import type { StateDb } from '../state/state-db';

export const IDENTITY_LINKED = 'IdentityLinked';

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
  },
  reset(db: StateDb) {
    db.exec('DROP TABLE IF EXISTS identity_links');
  },
};

/** Prepared reads of the identity index (preparing a statement costs more than running it). */
export class IdentityIndexReader {
  private readonly link;
  private readonly linkedTo;

  constructor(db: StateDb) {
    identityProjection.setup(db);
    this.link = db.prepare<[string, string], { user_id: string }>('SELECT user_id FROM identity_links WHERE workspace = ? AND key = ?');
    this.linkedTo = db.prepare<[string, string], { key: IdentityKey }>(
      'SELECT key FROM identity_links WHERE workspace = ? AND user_id = ? ORDER BY position',
    );
  }

  lookup(workspace: string, key: IdentityKey): string | undefined {
    return this.link.get(workspace, key)?.user_id;
  }

  keysLinkedTo(workspace: string, userId: string): IdentityKey[] {
    return this.linkedTo.all(workspace, userId).map((row) => row.key);
  }
}

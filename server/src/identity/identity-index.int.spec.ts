/**
 * The identity index remembers its answers, including "no link", so ingestion does not read SQLite
 * for every message. A link applied afterwards must still be seen, and the first link of a key
 * must still win.
 */
import type { IdentityLink } from '@herald/projections';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordedEvent } from '../event-store/event-store.port';
import { openStateDb, type StateDb } from '../state/state-db';
import { IDENTITY_LINKED, IdentityIndexReader, identityProjection } from './identity.projection';
import { IdentityService } from './identity.service';

let dir: string;
let db: StateDb;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'herald-identity-index-'));
  db = openStateDb(join(dir, 'state.sqlite'), { checkpointIntervalMs: 0 });
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

let position = 0;
function linked(workspace: string, link: IdentityLink): RecordedEvent {
  position += 1;
  return {
    id: `00000000-0000-4000-8000-${String(position).padStart(12, '0')}`,
    type: IDENTITY_LINKED,
    data: link,
    metadata: { workspace },
    stream: `workspace-${workspace}`,
    revision: position - 1,
    position,
    recordedAt: new Date(0).toISOString(),
  } as RecordedEvent;
}

it('sees a link applied after the key was looked up and found unlinked', () => {
  const index = new IdentityIndexReader(db);
  expect(index.lookup('default', 'anon:a1')).toBeUndefined();
  expect(index.lookup('default', 'anon:a1')).toBeUndefined();
  identityProjection.apply!(db, linked('default', { key: 'anon:a1', userId: 'ada' }));
  expect(index.lookup('default', 'anon:a1')).toBe('ada');
  // Other workspaces keep their own answers.
  expect(index.lookup('other', 'anon:a1')).toBeUndefined();
});

it('keeps the first link of a key, also after a second one is applied', () => {
  const index = new IdentityIndexReader(db);
  identityProjection.apply!(db, linked('default', { key: 'anon:a2', userId: 'ada' }));
  expect(index.lookup('default', 'anon:a2')).toBe('ada');
  identityProjection.apply!(db, linked('default', { key: 'anon:a2', userId: 'bob' }));
  expect(index.lookup('default', 'anon:a2')).toBe('ada');
});

it('forgets its answers when the projection is reset for a rebuild', () => {
  const index = new IdentityIndexReader(db);
  identityProjection.apply!(db, linked('default', { key: 'user:old', userId: 'new' }));
  expect(index.lookup('default', 'user:old')).toBe('new');
  identityProjection.reset(db);
  identityProjection.setup(db);
  expect(index.lookup('default', 'user:old')).toBeUndefined();
});

it('keeps a pending link until the identity projection has it: another projection committing the link first does not settle it', () => {
  const identity = new IdentityService(db);
  const personOf = (anonymousId: string) => identity.resolve('default', { anonymousId, type: 'track' }).person;
  const { links } = identity.resolve('default', { userId: 'ada', anonymousId: 'a3', type: 'identify' });
  expect(links).toEqual([expect.objectContaining({ key: 'anon:a3', userId: 'ada' })]);
  const event = linked('default', links[0]);
  expect(personOf('a3')).toMatchObject({ kind: 'user', userId: 'ada' });

  // The segments projection (or the scenarios one) commits the link before the identity projection applies it.
  identity.committed('segments', event);
  expect(personOf('a3')).toMatchObject({ kind: 'user', userId: 'ada' });

  identityProjection.apply!(db, event);
  identity.committed(identityProjection.name, event);
  expect(personOf('a3')).toMatchObject({ kind: 'user', userId: 'ada' });
});

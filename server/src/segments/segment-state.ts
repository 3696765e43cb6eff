/**
 * State of the segments projection in the embedded state database, behind a write-back cache.
 * The engine reads and changes records through this class; nothing reaches SQLite until `flush()`,
 * which the runner calls inside the transaction that also moves the checkpoint. `discard()` drops
 * unflushed changes when the appends they led to could not be made durable.
 */
import type { CapState, Profile, SegmentDefinition } from '@herald/projections';
import type { StateDb } from '../state/state-db';

export interface PersonRecord {
  profile: Profile;
  /** Ids of the segments the person is in, as last decided. */
  members: string[];
  /** When a windowed condition may flip with no new event: the durable timer's due time (ms). */
  nextCheckAt?: number;
  /** Messages queued for the person, for frequency caps. */
  caps?: CapState;
}

export interface WorkspaceSettings {
  /** How long queued messages are kept for frequency caps: the longest cap window. */
  capWindowMs: number;
  /** The workspace timezone, for dates without an offset when a user has none. */
  timezone?: string;
}

export interface StoredDefinition {
  definition: SegmentDefinition;
  version: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS segment_persons (
  workspace TEXT NOT NULL, person TEXT NOT NULL, record TEXT NOT NULL, next_check_at INTEGER,
  PRIMARY KEY (workspace, person)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS segment_persons_due ON segment_persons (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS segment_members (
  workspace TEXT NOT NULL, segment_id TEXT NOT NULL, person TEXT NOT NULL, since INTEGER NOT NULL,
  PRIMARY KEY (workspace, segment_id, person)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segment_links (
  workspace TEXT NOT NULL, key TEXT NOT NULL, person TEXT NOT NULL,
  PRIMARY KEY (workspace, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segment_workspace_settings (
  workspace TEXT PRIMARY KEY, cap_window_ms INTEGER NOT NULL, timezone TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segment_definitions (
  workspace TEXT NOT NULL, segment_id TEXT NOT NULL, version INTEGER NOT NULL, definition TEXT NOT NULL,
  PRIMARY KEY (workspace, segment_id)) WITHOUT ROWID;
`;

export const SEGMENT_TABLES = ['segment_persons', 'segment_members', 'segment_links', 'segment_definitions', 'segment_workspace_settings'];

const NO_SETTINGS: WorkspaceSettings = Object.freeze({ capWindowMs: 0 });

/** Persons (and links) kept in memory; beyond this the caches are dropped at the next flush. */
const CACHE_LIMIT = 50_000;

type MemberChange = { workspace: string; segmentId: string; person: string; since?: number };

export class SegmentState {
  // Caches are keyed by workspace, then by person or link key: no key string is built per look-up.
  private readonly persons = new Map<string, Map<string, PersonRecord | null>>();
  private personCount = 0;
  private readonly dirtyPersons = new Map<string, Set<string>>();
  private readonly memberChanges: MemberChange[] = [];
  /** Identity links seen so far; null remembers that a key has none (most people never link). */
  private readonly links = new Map<string, Map<string, string | null>>();
  private linkCount = 0;
  private readonly dirtyLinks = new Map<string, Set<string>>();
  private definitionsByWorkspace = new Map<string, Map<string, StoredDefinition>>();
  private readonly dirtyDefinitions = new Set<string>();
  private workspaceSettingsByWorkspace = new Map<string, WorkspaceSettings>();
  private readonly dirtyWorkspaceSettings = new Set<string>();
  private readonly statements;

  constructor(private readonly db: StateDb) {
    db.exec(SCHEMA);
    this.statements = {
      getPerson: db.prepare<[string, string], { record: string }>('SELECT record FROM segment_persons WHERE workspace = ? AND person = ?'),
      putPerson: db.prepare<[string, string, string, number | null]>(
        `INSERT INTO segment_persons (workspace, person, record, next_check_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (workspace, person) DO UPDATE SET record = excluded.record, next_check_at = excluded.next_check_at`,
      ),
      deletePerson: db.prepare<[string, string]>('DELETE FROM segment_persons WHERE workspace = ? AND person = ?'),
      personsOf: db.prepare<[string], { person: string; record: string }>('SELECT person, record FROM segment_persons WHERE workspace = ?'),
      addMember: db.prepare<[string, string, string, number]>(
        'INSERT OR REPLACE INTO segment_members (workspace, segment_id, person, since) VALUES (?, ?, ?, ?)',
      ),
      removeMember: db.prepare<[string, string, string]>('DELETE FROM segment_members WHERE workspace = ? AND segment_id = ? AND person = ?'),
      getLink: db.prepare<[string, string], { person: string }>('SELECT person FROM segment_links WHERE workspace = ? AND key = ?'),
      putLink: db.prepare<[string, string, string]>('INSERT OR REPLACE INTO segment_links (workspace, key, person) VALUES (?, ?, ?)'),
      definitions: db.prepare<[], { workspace: string; segment_id: string; version: number; definition: string }>(
        'SELECT workspace, segment_id, version, definition FROM segment_definitions',
      ),
      putDefinition: db.prepare<[string, string, number, string]>(
        'INSERT OR REPLACE INTO segment_definitions (workspace, segment_id, version, definition) VALUES (?, ?, ?, ?)',
      ),
      deleteDefinition: db.prepare<[string, string]>('DELETE FROM segment_definitions WHERE workspace = ? AND segment_id = ?'),
      workspaceSettings: db.prepare<[], { workspace: string; cap_window_ms: number; timezone: string | null }>(
        'SELECT workspace, cap_window_ms, timezone FROM segment_workspace_settings',
      ),
      putWorkspaceSettings: db.prepare<[string, number, string | null]>(
        'INSERT OR REPLACE INTO segment_workspace_settings (workspace, cap_window_ms, timezone) VALUES (?, ?, ?)',
      ),
      due: db.prepare<[number, number], { workspace: string; person: string; next_check_at: number }>(
        `SELECT workspace, person, next_check_at FROM segment_persons
         WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at LIMIT ?`,
      ),
      nextDue: db.prepare<[], { due: number | null }>('SELECT MIN(next_check_at) AS due FROM segment_persons WHERE next_check_at IS NOT NULL'),
    };
    this.loadDefinitions();
  }

  // Persons

  getPerson(workspace: string, person: string): PersonRecord | undefined {
    const cache = inner(this.persons, workspace);
    const cached = cache.get(person);
    if (cached !== undefined) return cached ?? undefined;
    const row = this.statements.getPerson.get(workspace, person);
    const record = row ? (JSON.parse(row.record) as PersonRecord) : undefined;
    cache.set(person, record ?? null);
    this.personCount += 1;
    return record;
  }

  putPerson(workspace: string, person: string, record: PersonRecord): void {
    this.setPerson(workspace, person, record);
  }

  deletePerson(workspace: string, person: string): void {
    this.setPerson(workspace, person, null);
  }

  private setPerson(workspace: string, person: string, record: PersonRecord | null): void {
    const cache = inner(this.persons, workspace);
    if (!cache.has(person)) this.personCount += 1;
    cache.set(person, record);
    innerSet(this.dirtyPersons, workspace).add(person);
  }

  /** Every person of a workspace, with unflushed changes applied. */
  *personsOf(workspace: string): Generator<[string, PersonRecord]> {
    const seen = new Set<string>();
    const cache = this.persons.get(workspace);
    for (const row of this.statements.personsOf.all(workspace)) {
      seen.add(row.person);
      const cached = cache?.get(row.person);
      if (cached === null) continue;
      yield [row.person, cached ?? (JSON.parse(row.record) as PersonRecord)];
    }
    for (const [person, record] of cache ?? []) {
      if (record && !seen.has(person)) yield [person, record];
    }
  }

  recordMembership(workspace: string, segmentId: string, person: string, since: number | undefined): void {
    this.memberChanges.push({ workspace, segmentId, person, since });
  }

  // Identity links as the segments projection has seen them, in log order.

  getLink(workspace: string, key: string): string | undefined {
    const cache = inner(this.links, workspace);
    const cached = cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const person = this.statements.getLink.get(workspace, key)?.person;
    cache.set(key, person ?? null);
    this.linkCount += 1;
    return person;
  }

  putLink(workspace: string, key: string, person: string): void {
    const cache = inner(this.links, workspace);
    if (!cache.has(key)) this.linkCount += 1;
    cache.set(key, person);
    innerSet(this.dirtyLinks, workspace).add(key);
  }

  // Definitions (small: kept in memory, written through on flush)

  definitions(workspace: string): Map<string, StoredDefinition> {
    let definitions = this.definitionsByWorkspace.get(workspace);
    if (!definitions) {
      definitions = new Map();
      this.definitionsByWorkspace.set(workspace, definitions);
    }
    return definitions;
  }

  putDefinition(workspace: string, stored: StoredDefinition): void {
    this.definitions(workspace).set(stored.definition.id, stored);
    this.dirtyDefinitions.add(cacheKey(workspace, stored.definition.id));
  }

  deleteDefinition(workspace: string, segmentId: string): void {
    this.definitions(workspace).delete(segmentId);
    this.dirtyDefinitions.add(cacheKey(workspace, segmentId));
  }

  // What the projection needs of the workspace's messaging settings, as of its position in the log.

  workspaceSettings(workspace: string): WorkspaceSettings {
    return this.workspaceSettingsByWorkspace.get(workspace) ?? NO_SETTINGS;
  }

  putWorkspaceSettings(workspace: string, settings: WorkspaceSettings): void {
    this.workspaceSettingsByWorkspace.set(workspace, settings);
    this.dirtyWorkspaceSettings.add(workspace);
  }

  // Timers

  dueTimers(now: number, limit: number): Array<{ workspace: string; person: string; dueAt: number }> {
    return this.statements.due.all(now, limit).map((row) => ({ workspace: row.workspace, person: row.person, dueAt: row.next_check_at }));
  }

  nextDueAt(): number | undefined {
    return this.statements.nextDue.get()?.due ?? undefined;
  }

  // Transaction boundary

  /** Writes every change since the last flush. Call inside a transaction. */
  flush(): void {
    for (const [workspace, persons] of this.dirtyPersons) {
      const cache = inner(this.persons, workspace);
      for (const person of persons) {
        const record = cache.get(person);
        if (record) this.statements.putPerson.run(workspace, person, JSON.stringify(record), record.nextCheckAt ?? null);
        else this.statements.deletePerson.run(workspace, person);
      }
    }
    for (const change of this.memberChanges) {
      if (change.since !== undefined) this.statements.addMember.run(change.workspace, change.segmentId, change.person, change.since);
      else this.statements.removeMember.run(change.workspace, change.segmentId, change.person);
    }
    for (const [workspace, keys] of this.dirtyLinks) {
      const cache = inner(this.links, workspace);
      for (const key of keys) this.statements.putLink.run(workspace, key, cache.get(key)!);
    }
    for (const key of this.dirtyDefinitions) {
      const [workspace, segmentId] = splitKey(key);
      const stored = this.definitions(workspace).get(segmentId);
      if (stored) this.statements.putDefinition.run(workspace, segmentId, stored.version, JSON.stringify(stored.definition));
      else this.statements.deleteDefinition.run(workspace, segmentId);
    }
    for (const workspace of this.dirtyWorkspaceSettings) {
      const settings = this.workspaceSettings(workspace);
      this.statements.putWorkspaceSettings.run(workspace, settings.capWindowMs, settings.timezone ?? null);
    }
    this.dirtyPersons.clear();
    this.memberChanges.length = 0;
    this.dirtyLinks.clear();
    this.dirtyDefinitions.clear();
    this.dirtyWorkspaceSettings.clear();
    // Bound memory: the cache is only a read-through copy once flushed.
    if (this.personCount > CACHE_LIMIT) {
      this.persons.clear();
      this.personCount = 0;
    }
    if (this.linkCount > CACHE_LIMIT) {
      this.links.clear();
      this.linkCount = 0;
    }
  }

  /** The caches have outgrown their bound (they are cut back at the next flush). */
  holdsMuch(): boolean {
    return this.personCount > CACHE_LIMIT || this.linkCount > CACHE_LIMIT;
  }

  /** Forgets unflushed changes (their appends failed); the next reads come from SQLite again. */
  discard(): void {
    for (const [workspace, persons] of this.dirtyPersons) for (const person of persons) forget(this.persons, workspace, person);
    for (const [workspace, keys] of this.dirtyLinks) for (const key of keys) forget(this.links, workspace, key);
    // Counts only bound the caches; after a discard they may overcount, which clears them sooner.
    this.dirtyPersons.clear();
    this.dirtyLinks.clear();
    this.memberChanges.length = 0;
    if (this.dirtyDefinitions.size > 0 || this.dirtyWorkspaceSettings.size > 0) this.loadDefinitions();
    this.dirtyDefinitions.clear();
    this.dirtyWorkspaceSettings.clear();
  }

  private loadDefinitions(): void {
    this.workspaceSettingsByWorkspace = new Map(
      this.statements.workspaceSettings
        .all()
        .map((row) => [row.workspace, { capWindowMs: row.cap_window_ms, timezone: row.timezone ?? undefined }]),
    );
    this.definitionsByWorkspace = new Map();
    for (const row of this.statements.definitions.all()) {
      this.definitions(row.workspace).set(row.segment_id, { definition: JSON.parse(row.definition), version: row.version });
    }
  }
}

function cacheKey(workspace: string, id: string): string {
  return `${workspace}\u0000${id}`;
}

function splitKey(key: string): [string, string] {
  const cut = key.indexOf('\u0000');
  return [key.slice(0, cut), key.slice(cut + 1)];
}

/** The map of one workspace, created when missing. */
function inner<V>(outer: Map<string, Map<string, V>>, workspace: string): Map<string, V> {
  let found = outer.get(workspace);
  if (found === undefined) outer.set(workspace, (found = new Map()));
  return found;
}

/** The set of one workspace, created when missing. */
function innerSet(outer: Map<string, Set<string>>, workspace: string): Set<string> {
  let found = outer.get(workspace);
  if (found === undefined) outer.set(workspace, (found = new Set()));
  return found;
}

function forget<V>(outer: Map<string, Map<string, V>>, workspace: string, key: string): void {
  outer.get(workspace)?.delete(key);
}

/** Drops the projection's tables (for a rebuild). */
export function dropSegmentTables(db: StateDb): void {
  for (const table of SEGMENT_TABLES) db.exec(`DROP TABLE IF EXISTS ${table}`);
}

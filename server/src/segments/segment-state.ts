/**
 * State of the segments projection in the embedded state database, behind a write-back cache.
 * The engine reads and changes records through this class; nothing reaches SQLite until `flush()`,
 * which the runner calls inside the transaction that also moves the checkpoint. `discard()` drops
 * unflushed changes when the appends they led to could not be made durable.
 *
 * The runner handles the next batch while earlier ones are still being appended (a pipelined
 * projection), so the changes are kept per batch: `beginBatch` announces a batch's last position,
 * `at` tells which event the next changes come from, `applied` how far the commit in progress
 * goes, and `flush` writes only the batches up to there, each record as that batch left it.
 *
 * Last seen: most events (a page view, a product view no segment counts) move nothing in a record
 * but last seen, and with a million persons rewriting the record costs a random page of a large
 * B-tree per event. Such an event leaves the record as it is and only notes its time (`noteSeen`):
 * a commit appends the noted times to `segment_seen` (rows in insertion order, so a batch's fill a
 * few pages), and once that holds `seenCompactRows` rows they are folded, in key order, into
 * `segment_last_seen` (narrow rows: many persons share each page written) in the same transaction.
 * A person's last seen is the latest of the record's and those two tables' (`lastSeenOf`, and
 * `SegmentQueries.person` for the API). Both live and in a rebuild the record's last seen moves
 * only with a change to the record, so the records do not depend on where commits fall.
 */
import type { CapState, Profile, SegmentDefinition } from '@herald/projections';
import type { StateDb } from '../state/state-db';
import { decodePersonRecord, encodePersonRecord } from './person-record-codec';

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
CREATE TABLE IF NOT EXISTS segment_seen (workspace TEXT NOT NULL, person TEXT NOT NULL, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS segment_last_seen (
  workspace TEXT NOT NULL, person TEXT NOT NULL, last_seen INTEGER NOT NULL,
  PRIMARY KEY (workspace, person)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS segment_definitions (
  workspace TEXT NOT NULL, segment_id TEXT NOT NULL, version INTEGER NOT NULL, definition TEXT NOT NULL,
  PRIMARY KEY (workspace, segment_id)) WITHOUT ROWID;
`;

export const SEGMENT_TABLES = [
  'segment_persons',
  'segment_members',
  'segment_links',
  'segment_definitions',
  'segment_workspace_settings',
  'segment_seen',
  'segment_last_seen',
];

/**
 * Rows of `segment_seen` that are folded into `segment_last_seen` at once. Larger: fewer, bigger
 * folds (with a million persons a fold rewrites nearly every page of `segment_last_seen`: 4–5 µs a
 * row at 100,000, 8–17 at 20,000, which measured no better than rewriting the records, bench/README.md);
 * smaller: a shorter scan for the API's look-up of one person's last seen (≈ 8 ms at 100,000 rows).
 */
const SEEN_COMPACT_ROWS = 100_000;

const NO_SETTINGS: WorkspaceSettings = Object.freeze({ capWindowMs: 0 });

/** Persons (and links) kept in memory; beyond this a flush cuts the caches back to the changes not yet committed. */
const CACHE_LIMIT = 50_000;

type MemberChange = { workspace: string; segmentId: string; person: string; since?: number };

/** What one batch changed (a rebuild's whole commit is one), with the values it left. */
interface Changes {
  /** Last position the batch may hold (Infinity: until the next flush, as in a rebuild). */
  end: number;
  /** Lowest and highest position a change was made at. */
  first: number;
  last: number;
  persons: Map<string, Map<string, PersonRecord | null>>;
  /** Last seen noted without a record write, per workspace and person (the latest). */
  seen: Map<string, Map<string, number>>;
  members: MemberChange[];
  links: Map<string, Map<string, string>>;
  /** cacheKey(workspace, segment id) -> the definition, or null once deleted. */
  definitions: Map<string, StoredDefinition | null>;
  workspaceSettings: Map<string, WorkspaceSettings>;
}

function noChanges(end: number, position: number): Changes {
  return { end, first: position, last: position, persons: new Map(), seen: new Map(), members: [], links: new Map(), definitions: new Map(), workspaceSettings: new Map() };
}

export class SegmentState {
  // Caches are keyed by workspace, then by person or link key: no key string is built per look-up.
  private persons = new Map<string, Map<string, PersonRecord | null>>();
  private personCount = 0;
  /** Identity links seen so far; null remembers that a key has none (most people never link). */
  private links = new Map<string, Map<string, string | null>>();
  private linkCount = 0;
  private definitionsByWorkspace = new Map<string, Map<string, StoredDefinition>>();
  private workspaceSettingsByWorkspace = new Map<string, WorkspaceSettings>();
  /** Unflushed changes, one entry per batch, oldest first. */
  private changes: Changes[] = [];
  /** Last positions of the batches announced and not begun yet, ascending. */
  private batchEnds: number[] = [];
  /** Position of the event whose changes are being made. */
  private position = 0;
  /** Position up to which the commit in progress goes. */
  private appliedUpTo = 0;
  /** The latest time per person in `segment_seen` (committed, not folded yet), and its row count. */
  private journal = new Map<string, Map<string, number>>();
  private journalRows = 0;
  private readonly statements;

  constructor(
    db: StateDb,
    /** Persons (and links) kept in memory; beyond this the caches are cut back at the next flush. */
    private readonly cacheLimit = CACHE_LIMIT,
    /** Rows of `segment_seen` folded into `segment_last_seen` at once. */
    private readonly seenCompactRows = SEEN_COMPACT_ROWS,
  ) {
    db.exec(SCHEMA);
    this.statements = {
      getPerson: db.prepare<[string, string], { record: string; next_check_at: number | null }>(
        'SELECT record, next_check_at FROM segment_persons WHERE workspace = ? AND person = ?',
      ),
      putPerson: db.prepare<[string, string, string, number | null]>(
        `INSERT INTO segment_persons (workspace, person, record, next_check_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (workspace, person) DO UPDATE SET record = excluded.record, next_check_at = excluded.next_check_at`,
      ),
      deletePerson: db.prepare<[string, string]>('DELETE FROM segment_persons WHERE workspace = ? AND person = ?'),
      personsOf: db.prepare<[string], { person: string; record: string; next_check_at: number | null }>(
        'SELECT person, record, next_check_at FROM segment_persons WHERE workspace = ?',
      ),
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
      addSeen: db.prepare<[string, string, number]>('INSERT INTO segment_seen (workspace, person, at) VALUES (?, ?, ?)'),
      journal: db.prepare<[], { workspace: string; person: string; at: number; rows: number }>(
        'SELECT workspace, person, MAX(at) AS at, COUNT(*) AS rows FROM segment_seen GROUP BY workspace, person',
      ),
      // WHERE true: an upsert's SELECT needs it (SQLite's parser would read ON CONFLICT as a join's ON).
      foldSeen: db.prepare(
        `INSERT INTO segment_last_seen (workspace, person, last_seen)
         SELECT workspace, person, MAX(at) FROM segment_seen WHERE true GROUP BY workspace, person ORDER BY workspace, person
         ON CONFLICT (workspace, person) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
      ),
      clearSeen: db.prepare('DELETE FROM segment_seen'),
      folded: db.prepare<[string, string], { last_seen: number }>('SELECT last_seen FROM segment_last_seen WHERE workspace = ? AND person = ?'),
    };
    this.loadDefinitions();
    this.loadJournal();
  }

  // Persons

  getPerson(workspace: string, person: string): PersonRecord | undefined {
    const cache = inner(this.persons, workspace);
    const cached = cache.get(person);
    if (cached !== undefined) return cached ?? undefined;
    const row = this.statements.getPerson.get(workspace, person);
    const record = row ? decodePersonRecord(person, row.record, row.next_check_at) : undefined;
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
    inner(this.current().persons, workspace).set(person, record);
  }

  /** Every person of a workspace, with unflushed changes applied. */
  *personsOf(workspace: string): Generator<[string, PersonRecord]> {
    const seen = new Set<string>();
    const cache = this.persons.get(workspace);
    for (const row of this.statements.personsOf.all(workspace)) {
      seen.add(row.person);
      const cached = cache?.get(row.person);
      if (cached === null) continue;
      yield [row.person, cached ?? decodePersonRecord(row.person, row.record, row.next_check_at)];
    }
    for (const [person, record] of cache ?? []) {
      if (record && !seen.has(person)) yield [person, record];
    }
  }

  /** The person was seen at `at`, a change their record does not carry (see the file's comment). */
  noteSeen(workspace: string, person: string, at: number): void {
    const seen = inner(this.current().seen, workspace);
    if (!(at <= (seen.get(person) ?? -Infinity))) seen.set(person, at);
  }

  /**
   * The latest time noted for the person beyond their record (committed or not), or undefined.
   * Reads `segment_last_seen` (a point query), so it is for the rare reader: an identity merge.
   */
  lastSeenOf(workspace: string, person: string): number | undefined {
    let latest = this.statements.folded.get(workspace, person)?.last_seen;
    const consider = (at: number | undefined) => {
      if (at !== undefined && !(at <= (latest ?? -Infinity))) latest = at;
    };
    consider(this.journal.get(workspace)?.get(person));
    for (const changes of this.changes) consider(changes.seen.get(workspace)?.get(person));
    return latest;
  }

  recordMembership(workspace: string, segmentId: string, person: string, since: number | undefined): void {
    this.current().members.push({ workspace, segmentId, person, since });
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
    inner(this.current().links, workspace).set(key, person);
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
    this.current().definitions.set(cacheKey(workspace, stored.definition.id), stored);
  }

  deleteDefinition(workspace: string, segmentId: string): void {
    this.definitions(workspace).delete(segmentId);
    this.current().definitions.set(cacheKey(workspace, segmentId), null);
  }

  // What the projection needs of the workspace's messaging settings, as of its position in the log.

  workspaceSettings(workspace: string): WorkspaceSettings {
    return this.workspaceSettingsByWorkspace.get(workspace) ?? NO_SETTINGS;
  }

  putWorkspaceSettings(workspace: string, settings: WorkspaceSettings): void {
    this.workspaceSettingsByWorkspace.set(workspace, settings);
    this.current().workspaceSettings.set(workspace, settings);
  }

  // Timers

  dueTimers(now: number, limit: number): Array<{ workspace: string; person: string; dueAt: number }> {
    return this.statements.due.all(now, limit).map((row) => ({ workspace: row.workspace, person: row.person, dueAt: row.next_check_at }));
  }

  nextDueAt(): number | undefined {
    return this.statements.nextDue.get()?.due ?? undefined;
  }

  // Batches and the transaction boundary

  /**
   * A batch ending at `lastPosition` will be handled after those announced before: changes made
   * from its events are kept apart from the previous batch's. Without announced batches (a
   * rebuild), everything changed until the next flush is one set.
   */
  beginBatch(lastPosition: number): void {
    this.batchEnds.push(lastPosition);
  }

  /** The next changes are made by handling the event at `position` (events come in log order). */
  at(position: number): void {
    this.position = position;
  }

  /** The commit in progress covers the events up to `position`. */
  applied(position: number): void {
    this.appliedUpTo = position;
  }

  /** The changes of the batch the current event belongs to. */
  private current(): Changes {
    const position = this.position;
    let open = this.changes[this.changes.length - 1];
    if (open === undefined || position > open.end) {
      while (this.batchEnds.length > 0 && this.batchEnds[0] < position) this.batchEnds.shift();
      open = noChanges(this.batchEnds.shift() ?? Infinity, position);
      this.changes.push(open);
    }
    if (position > open.last) open.last = position;
    return open;
  }

  /**
   * Writes the changes of the batches the commit in progress covers (see `applied`), or every
   * change when no batch was announced. Call inside the transaction that writes the checkpoint.
   */
  flush(): void {
    const upTo = this.appliedUpTo;
    let taken = 0;
    const covered = (changes: Changes) => (changes.end === Infinity ? changes.last : changes.end) <= upTo;
    while (taken < this.changes.length && covered(this.changes[taken])) taken += 1;
    // A batch's changes are written whole or not at all: half of one would leave the state behind
    // its checkpoint or ahead of it (an event skipped or applied twice after a crash).
    const next = this.changes[taken];
    if (next !== undefined && next.first <= upTo) throw new Error(`segments: changes from ${next.first} to ${next.last} straddle a commit up to ${upTo}`);
    for (const changes of this.changes.slice(0, taken)) this.write(changes);
    this.changes = this.changes.slice(taken);
    if (this.journalRows >= this.seenCompactRows) {
      this.statements.foldSeen.run();
      this.statements.clearSeen.run();
      this.journal = new Map();
      this.journalRows = 0;
    }
    // Bound memory: once flushed the caches are only a read-through copy, but what later batches
    // changed and have not committed yet must stay (SQLite does not have it).
    if (this.personCount > this.cacheLimit) [this.persons, this.personCount] = unflushed(this.changes.map((changes) => changes.persons));
    if (this.linkCount > this.cacheLimit) [this.links, this.linkCount] = unflushed(this.changes.map((changes) => changes.links));
  }

  private write(changes: Changes): void {
    for (const [workspace, persons] of changes.persons) {
      // In key order, as the B-tree is: consecutive writes touch nearby pages.
      for (const person of [...persons.keys()].sort()) {
        const record = persons.get(person);
        if (record) this.statements.putPerson.run(workspace, person, encodePersonRecord(person, record), record.nextCheckAt ?? null);
        else this.statements.deletePerson.run(workspace, person);
      }
    }
    for (const [workspace, seen] of changes.seen) {
      const journal = inner(this.journal, workspace);
      for (const [person, at] of seen) {
        // A time the journal already holds (or passes) for the person adds nothing.
        if (at <= (journal.get(person) ?? -Infinity)) continue;
        this.statements.addSeen.run(workspace, person, at);
        journal.set(person, at);
        this.journalRows += 1;
      }
    }
    for (const change of changes.members) {
      if (change.since !== undefined) this.statements.addMember.run(change.workspace, change.segmentId, change.person, change.since);
      else this.statements.removeMember.run(change.workspace, change.segmentId, change.person);
    }
    for (const [workspace, keys] of changes.links) {
      for (const [key, person] of keys) this.statements.putLink.run(workspace, key, person);
    }
    for (const [key, stored] of changes.definitions) {
      const [workspace, segmentId] = splitKey(key);
      if (stored) this.statements.putDefinition.run(workspace, segmentId, stored.version, JSON.stringify(stored.definition));
      else this.statements.deleteDefinition.run(workspace, segmentId);
    }
    for (const [workspace, settings] of changes.workspaceSettings) {
      this.statements.putWorkspaceSettings.run(workspace, settings.capWindowMs, settings.timezone ?? null);
    }
  }

  /** The caches have outgrown their bound (they are cut back at the next flush). */
  holdsMuch(): boolean {
    return this.personCount > this.cacheLimit || this.linkCount > this.cacheLimit;
  }

  /** Forgets every unflushed change (their appends failed); the next reads come from SQLite again. */
  discard(): void {
    let definitionsChanged = false;
    for (const changes of this.changes) {
      for (const [workspace, persons] of changes.persons) for (const person of persons.keys()) forget(this.persons, workspace, person);
      for (const [workspace, keys] of changes.links) for (const key of keys.keys()) forget(this.links, workspace, key);
      if (changes.definitions.size > 0 || changes.workspaceSettings.size > 0) definitionsChanged = true;
    }
    // Counts only bound the caches; after a discard they may overcount, which clears them sooner.
    this.changes = [];
    this.batchEnds = [];
    if (definitionsChanged) this.loadDefinitions();
    // A flush whose transaction then failed has noted rows that were rolled back.
    this.loadJournal();
  }

  private loadJournal(): void {
    this.journal = new Map();
    this.journalRows = 0;
    for (const row of this.statements.journal.all()) {
      inner(this.journal, row.workspace).set(row.person, row.at);
      this.journalRows += row.rows;
    }
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

/**
 * A cache holding only what unflushed batches changed, oldest batch first (each key ends with the
 * value the last batch left, as in the cache), and how many keys it holds.
 */
function unflushed<V>(batches: Array<Map<string, Map<string, V>>>): [Map<string, Map<string, V | null>>, number] {
  const cache = new Map<string, Map<string, V | null>>();
  for (const batch of batches) {
    for (const [workspace, values] of batch) {
      const kept = inner(cache, workspace);
      for (const [key, value] of values) kept.set(key, value);
    }
  }
  let count = 0;
  for (const kept of cache.values()) count += kept.size;
  return [cache, count];
}

function forget<V>(outer: Map<string, Map<string, V>>, workspace: string, key: string): void {
  outer.get(workspace)?.delete(key);
}

/** Drops the projection's tables (for a rebuild). */
export function dropSegmentTables(db: StateDb): void {
  for (const table of SEGMENT_TABLES) db.exec(`DROP TABLE IF EXISTS ${table}`);
}

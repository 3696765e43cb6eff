/** Read-only queries over the committed state of the segments projection (for the API). */
import type { StateDb } from '../state/state-db';
import { decodePersonRecord } from './person-record-codec';
import type { PersonRecord } from './segment-state';

export interface MemberRow {
  person: string;
  since: string;
}

export class SegmentQueries {
  private readonly statements;

  constructor(db: StateDb) {
    this.statements = {
      members: db.prepare<[string, string, number, number], { person: string; since: number }>(
        'SELECT person, since FROM segment_members WHERE workspace = ? AND segment_id = ? ORDER BY person LIMIT ? OFFSET ?',
      ),
      count: db.prepare<[string, string], { total: number }>('SELECT COUNT(*) AS total FROM segment_members WHERE workspace = ? AND segment_id = ?'),
      counts: db.prepare<[string], { segment_id: string; total: number }>(
        'SELECT segment_id, COUNT(*) AS total FROM segment_members WHERE workspace = ? GROUP BY segment_id',
      ),
      allMembers: db.prepare<[string, string, string, number], { person: string; since: number }>(
        'SELECT person, since FROM segment_members WHERE workspace = ? AND segment_id = ? AND person > ? ORDER BY person LIMIT ?',
      ),
      person: db.prepare<[string, string], { record: string; next_check_at: number | null }>(
        'SELECT record, next_check_at FROM segment_persons WHERE workspace = ? AND person = ?',
      ),
      // Last seen noted beside the record (see SegmentState): `segment_seen` has no index, it is short.
      lastSeen: db.prepare<[{ workspace: string; person: string }], { at: number | null }>(
        `SELECT MAX(at) AS at FROM (
           SELECT last_seen AS at FROM segment_last_seen WHERE workspace = @workspace AND person = @person
           UNION ALL SELECT at FROM segment_seen WHERE workspace = @workspace AND person = @person)`,
      ),
    };
  }

  members(workspace: string, segmentId: string, limit: number, offset: number): { total: number; members: MemberRow[] } {
    const total = this.statements.count.get(workspace, segmentId)?.total ?? 0;
    const members = this.statements.members
      .all(workspace, segmentId, limit, offset)
      .map((row) => ({ person: row.person, since: new Date(row.since).toISOString() }));
    return { total, members };
  }

  /** Every current member and since when (epoch ms), in pages (for broadcasts). */
  *allMembers(workspace: string, segmentId: string, pageSize = 5000): Generator<{ person: string; since: number }> {
    let after = '';
    for (;;) {
      const page = this.statements.allMembers.all(workspace, segmentId, after, pageSize);
      yield* page;
      if (page.length < pageSize) return;
      after = page[page.length - 1].person;
    }
  }

  memberCounts(workspace: string): Map<string, number> {
    return new Map(this.statements.counts.all(workspace).map((row) => [row.segment_id, row.total]));
  }

  /** A person's record with their exact last seen. */
  person(workspace: string, person: string): PersonRecord | undefined {
    const record = this.record(workspace, person);
    if (!record) return undefined;
    const seen = this.statements.lastSeen.get({ workspace, person })?.at ?? null;
    if (seen !== null && seen > record.profile.lastSeen) record.profile = { ...record.profile, lastSeen: seen };
    return record;
  }

  /**
   * A person's record as stored: its last seen may be earlier than the person's (events that moved
   * only last seen are noted apart). Cheaper than `person`, for readers of traits or membership.
   */
  record(workspace: string, person: string): PersonRecord | undefined {
    const row = this.statements.person.get(workspace, person);
    return row ? decodePersonRecord(person, row.record, row.next_check_at) : undefined;
  }
}

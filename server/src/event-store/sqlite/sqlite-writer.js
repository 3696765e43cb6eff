// @ts-check
/**
 * The write side of the SQLite event log: one group commit (a transaction over every waiting
 * append) on a database connection. Plain JavaScript so the same code runs inside the store's
 * writer thread (sqlite-writer.worker.js, where the fsync of synchronous=FULL no longer blocks the
 * event loop) and in-process for ':memory:' databases. Events arrive already serialised: ids as 16
 * bytes, data and metadata as JSON text.
 */
'use strict';

/**
 * @typedef {'any' | 'no_stream' | 'stream_exists' | number} ExpectedRevision
 * @typedef {{ id: Uint8Array; type: string; data: string; metadata: string }} SerializedEvent
 * @typedef {{ stream: string; expected: ExpectedRevision; events: SerializedEvent[] }} AppendRequest
 * @typedef {{ ok: true; nextExpectedRevision: number; position: number; appended: number; streamId?: number }
 *   | { ok: false; conflict: { stream: string; expected: string; actual: number | 'no_stream' } }} AppendOutcome
 */

/** @param {import('better-sqlite3').Database} db */
function createWriter(db) {
  const statements = {
    streamByName: db.prepare('SELECT stream_id, revision FROM streams WHERE name = ?'),
    insertStream: db.prepare('INSERT INTO streams (name, revision) VALUES (?, ?)'),
    updateStreamRevision: db.prepare('UPDATE streams SET revision = ? WHERE stream_id = ?'),
    eventById: db.prepare('SELECT position FROM events WHERE event_id = ?'),
    insertEvent: db.prepare(
      `INSERT INTO events (stream_id, revision, event_id, type, data, metadata, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertEventIfNew: db.prepare(
      `INSERT INTO events (stream_id, revision, event_id, type, data, metadata, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
    ),
  };

  /**
   * An append to an existing stream that expects nothing of it (every tracking call): each event is
   * inserted unless its id is stored, which the insert's own probe of the id index tells, instead of
   * a lookup of the id before each insert (one index probe and one statement fewer per event). The
   * outcome is the one `applyAppend` gives.
   * @param {AppendRequest} request
   * @param {{ stream_id: number; revision: number }} existing
   * @param {number} recordedAt
   * @returns {AppendOutcome}
   */
  function appendToExisting(request, existing, recordedAt) {
    const streamId = existing.stream_id;
    let revision = existing.revision;
    let position = 0;
    let knownPosition = 0;
    for (const event of request.events) {
      const inserted = statements.insertEventIfNew.run(streamId, revision + 1, event.id, event.type, event.data, event.metadata, recordedAt);
      if (inserted.changes === 1) {
        revision += 1;
        position = Number(inserted.lastInsertRowid);
      } else {
        const stored = /** @type {{ position: number }} */ (statements.eventById.get(event.id));
        knownPosition = Math.max(knownPosition, stored.position);
      }
    }
    const appended = revision - existing.revision;
    // Every id is known: an idempotent replay of an earlier append.
    if (appended === 0) return { ok: true, nextExpectedRevision: existing.revision, position: knownPosition, appended: 0 };
    statements.updateStreamRevision.run(revision, streamId);
    return { ok: true, nextExpectedRevision: revision, position, appended, streamId };
  }

  /**
   * @param {AppendRequest} request
   * @param {number} recordedAt
   * @returns {AppendOutcome}
   */
  function applyAppend(request, recordedAt) {
    const { stream, events, expected } = request;
    /** @type {{ stream_id: number; revision: number } | undefined} */
    const existing = /** @type {any} */ (statements.streamByName.get(stream));
    if (existing && expected === 'any') return appendToExisting(request, existing, recordedAt);
    const fresh = [];
    let knownPosition = 0;
    for (const event of events) {
      /** @type {{ position: number } | undefined} */
      const stored = /** @type {any} */ (statements.eventById.get(event.id));
      if (!stored) fresh.push(event);
      else knownPosition = Math.max(knownPosition, stored.position);
    }
    if (fresh.length === 0) {
      // Every id is known: an idempotent replay of an earlier append.
      return { ok: true, nextExpectedRevision: existing ? existing.revision : -1, position: knownPosition, appended: 0 };
    }
    const actual = existing ? existing.revision : undefined;
    const expectedOk =
      expected === 'any' ||
      (expected === 'no_stream' && actual === undefined) ||
      (expected === 'stream_exists' && actual !== undefined) ||
      (typeof expected === 'number' && actual === expected);
    // Checked before anything of this append is written, so the other appends of the commit stand.
    if (!expectedOk) return { ok: false, conflict: { stream, expected: String(expected), actual: actual ?? 'no_stream' } };
    let streamId;
    let revision;
    if (existing) {
      streamId = existing.stream_id;
      revision = existing.revision;
    } else {
      streamId = Number(statements.insertStream.run(stream, -1).lastInsertRowid);
      revision = -1;
    }
    let position = 0;
    for (const event of fresh) {
      revision += 1;
      position = Number(statements.insertEvent.run(streamId, revision, event.id, event.type, event.data, event.metadata, recordedAt).lastInsertRowid);
    }
    statements.updateStreamRevision.run(revision, streamId);
    return { ok: true, nextExpectedRevision: revision, position, appended: fresh.length, streamId };
  }

  const commitAll = db.transaction(
    /** @param {Array<{ batch: AppendRequest[]; recordedAt: number }>} batches */
    (batches) => batches.map(({ batch, recordedAt }) => batch.map((request) => applyAppend(request, recordedAt))),
  );

  return {
    /**
     * One transaction for the whole batch; throws (and writes nothing) on a storage error.
     * @param {AppendRequest[]} batch
     * @param {number} recordedAt
     * @returns {AppendOutcome[]}
     */
    commit(batch, recordedAt) {
      return this.commitBatches([{ batch, recordedAt }])[0];
    },
    /**
     * Several batches, in order, in one transaction: each batch's outcomes; throws (and writes
     * nothing of any of them) on a storage error.
     * @param {Array<{ batch: AppendRequest[]; recordedAt: number }>} batches
     * @returns {AppendOutcome[][]}
     */
    commitBatches(batches) {
      // IMMEDIATE: the transaction reads (stream revisions) before it writes, and a deferred one that
      // has read cannot wait for the write lock; it fails with SQLITE_BUSY at once while the
      // checkpointer thread holds that lock to restart the WAL. Immediate, it waits (busy timeout).
      return commitAll.immediate(batches);
    },
  };
}

module.exports = { createWriter };

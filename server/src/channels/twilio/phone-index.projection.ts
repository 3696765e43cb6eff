/**
 * Which person streams carry a phone number, so an inbound STOP from `+4915…` finds whom to
 * unsubscribe. Folded from `Identified` events: the latest `phone` trait of a stream wins, `null`
 * removes it, and a value that is not E.164 is not indexed (the adapters would not text it either).
 */
import type { RecordedEvent } from '../../event-store/event-store.port';
import type { HostedProjection } from '../../projection-runner/projection-runner';
import type { Statement } from 'better-sqlite3';
import type { StateDb } from '../../state/state-db';
import { E164 } from './twilio-callbacks';

export const PHONE_INDEX = 'twilio-phone-index';

function setup(db: StateDb): void {
  db.exec(`CREATE TABLE IF NOT EXISTS twilio_phone_index (
    workspace TEXT NOT NULL, stream TEXT NOT NULL, phone TEXT NOT NULL,
    PRIMARY KEY (workspace, stream)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS twilio_phone_index_by_phone ON twilio_phone_index (phone);`);
}

/** The phone trait an `Identified` event sets: a number, `null` (removed), or undefined (untouched). */
export function phoneOf(event: RecordedEvent): string | null | undefined {
  const traits = (event.data as { traits?: Record<string, unknown> } | undefined)?.traits;
  if (!traits || !Object.prototype.hasOwnProperty.call(traits, 'phone')) return undefined;
  const phone = traits.phone;
  return typeof phone === 'string' && E164.test(phone) ? phone : null;
}

export class PhoneIndexProjection implements HostedProjection {
  readonly name = PHONE_INDEX;
  readonly filter = { eventTypes: ['Identified'] };
  private readonly statements = new WeakMap<StateDb, { upsert: Statement<[string, string, string]>; remove: Statement<[string, string]> }>();

  setup(db: StateDb): void {
    setup(db);
  }

  reset(db: StateDb): void {
    db.exec('DROP TABLE IF EXISTS twilio_phone_index');
  }

  apply(db: StateDb, event: RecordedEvent): void {
    const phone = phoneOf(event);
    if (phone === undefined) return;
    const statements = this.prepared(db);
    if (phone === null) statements.remove.run(event.metadata.workspace, event.stream);
    else statements.upsert.run(event.metadata.workspace, event.stream, phone);
  }

  private prepared(db: StateDb) {
    let statements = this.statements.get(db);
    if (!statements) {
      statements = {
        upsert: db.prepare<[string, string, string]>(
          'INSERT INTO twilio_phone_index (workspace, stream, phone) VALUES (?, ?, ?) ON CONFLICT (workspace, stream) DO UPDATE SET phone = excluded.phone',
        ),
        remove: db.prepare<[string, string]>('DELETE FROM twilio_phone_index WHERE workspace = ? AND stream = ?'),
      };
      this.statements.set(db, statements);
    }
    return statements;
  }
}

export class PhoneIndexReader {
  private readonly byPhone;

  constructor(db: StateDb) {
    setup(db);
    this.byPhone = db.prepare<[string], { workspace: string; stream: string }>(
      'SELECT workspace, stream FROM twilio_phone_index WHERE phone = ? ORDER BY workspace, stream',
    );
  }

  /** Every person stream, in every workspace, whose phone trait is `phone`. */
  streamsWithPhone(phone: string): Array<{ workspace: string; stream: string }> {
    return this.byPhone.all(phone);
  }
}

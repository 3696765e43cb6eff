/**
 * Reads a person's suppressed addresses and lifts them: loads the stream, decides
 * (suppressions.ts), appends `AddressUnsuppressed` with the expected revision. Event ids are derived
 * from the stream, the address and the revision decided at, so a repeated request appends nothing.
 */
import { personStream } from '@herald/projections';
import { WrongExpectedRevisionError } from '../../event-store/errors';
import type { EventStore, NewEvent } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { derivedEventId } from '../../shared/ids';
import { contactFrom } from '../contact';
import { type AddressUnsuppressed, decideLift, type Suppression, SUPPRESSION_EVENTS } from './suppressions';

const ATTEMPTS = 5;

export class SuppressionsService {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {}

  /** The person's suppressed addresses, oldest first. */
  async list(workspace: string, person: string): Promise<Suppression[]> {
    const contact = contactFrom(await this.store.readStream(personStream(workspace, person)));
    return [...contact.suppressions.suppressed.values()].sort((a, b) => a.since.localeCompare(b.since));
  }

  /** Lifts every suppressed address of the person on `channel`; throws UnknownChannelError or NotSuppressedError. */
  async lift(workspace: string, person: string, channel: string, who: string): Promise<AddressUnsuppressed[]> {
    const stream = personStream(workspace, person);
    for (let attempt = 1; ; attempt++) {
      const history = await this.store.readStream(stream);
      const lifted = decideLift(contactFrom(history).suppressions, channel, who);
      const revision = history.length === 0 ? -1 : history[history.length - 1].revision;
      const now = this.clock.now().toISOString();
      const events: NewEvent[] = lifted.map((data, index) => ({
        id: derivedEventId(`suppressions|${stream}`, 'lift', `${data.channel}|${data.address}`, revision + 1 + index),
        type: SUPPRESSION_EVENTS.unsuppressed,
        data: { ...data },
        metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 },
      }));
      try {
        await this.store.append(stream, events, { expectedRevision: revision === -1 ? 'no_stream' : revision });
        return lifted;
      } catch (error) {
        // Something else was appended meanwhile (a new bounce, the same request twice): decide again.
        if (!(error instanceof WrongExpectedRevisionError) || attempt >= ATTEMPTS) throw error;
      }
    }
  }
}

/**
 * Reads a person's suppressed addresses and lifts them: loads the stream, decides
 * (suppressions.ts), appends `AddressUnsuppressed` with the expected revision. Event ids are derived
 * from the stream, the address and the revision decided at, so a repeated request appends nothing.
 */
import { personStream } from '@herald/projections';
import type { EventStore } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import { derivedEventId } from '../../shared/ids';
import { contactFrom } from '../contact';
import { decideOnContact } from '../contact-decisions';
import { type AddressUnsuppressed, decideLift, type Suppression, SUPPRESSION_EVENTS } from './suppressions';

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
    return decideOnContact(
      this.store,
      stream,
      (contact) => decideLift(contact.suppressions, channel, who),
      (lifted, firstRevision) => {
        const now = this.clock.now().toISOString();
        return lifted.map((data, index) => ({
          id: derivedEventId(`suppressions|${stream}`, 'lift', `${data.channel}|${data.address}`, firstRevision + index),
          type: SUPPRESSION_EVENTS.unsuppressed,
          data: { ...data },
          metadata: { workspace, occurredAt: now, receivedAt: now, schemaVersion: 1 },
        }));
      },
    );
  }
}

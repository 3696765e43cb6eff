/**
 * Decides on a person's contact state and appends what was decided against the revision it was read
 * at, so a decision is made on the state it saw (two concurrent unsubscribes append once). When
 * something else was appended meanwhile it reads and decides again, up to `attempts` times.
 * `toEvents` gets the revision the events will start at, from which callers derive their ids, so a
 * repeated request appends nothing.
 */
import { WrongExpectedRevisionError } from '../event-store/errors';
import type { EventStore, NewEvent } from '../event-store/event-store.port';
import { contactFrom, type ContactState } from './contact';

export async function decideOnContact<T>(
  store: EventStore,
  stream: string,
  decide: (contact: ContactState) => T[],
  toEvents: (decided: T[], firstRevision: number) => NewEvent[],
  attempts = 5,
): Promise<T[]> {
  for (let attempt = 1; ; attempt++) {
    const history = await store.readStream(stream);
    const decided = decide(contactFrom(history));
    if (decided.length === 0) return decided;
    const revision = history.length === 0 ? -1 : history[history.length - 1].revision;
    try {
      await store.append(stream, toEvents(decided, revision + 1), { expectedRevision: revision === -1 ? 'no_stream' : revision });
      return decided;
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= attempts) throw error;
    }
  }
}

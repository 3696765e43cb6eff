/**
 * Answers "whose message is this?" for ingestion and "which streams make up this person?" for the
 * audit API. The durable answer is the identity projection; links that ingestion has decided but the
 * projection has not applied yet are kept in a small overlay, so an identify followed at once by an
 * anonymous track already lands on the user's stream, and two concurrent identifies of one
 * anonymous id cannot both link it (the decision and the overlay entry happen in one synchronous step).
 */
import {
  anonymousStream,
  type IdentifiedMessage,
  type IdentityKey,
  type IdentityLink,
  membersOf,
  type Resolution,
  resolveIdentity,
  canonicalUser,
  userStream,
} from '@herald/projections';
import type { StateDb } from '../state/state-db';
import type { RecordedEvent } from '../event-store/event-store.port';
import { IDENTITY_LINKED, IdentityIndexReader, identityProjection } from './identity.projection';

export class IdentityService {
  private readonly pending = new Map<string, string>();
  private readonly index: IdentityIndexReader;

  constructor(db: StateDb) {
    this.index = new IdentityIndexReader(db);
  }

  /** Decides the person and the new links, and reserves those links until `settle` is called. */
  resolve(workspace: string, message: IdentifiedMessage): Resolution {
    const resolution = resolveIdentity(message, (key) => this.lookup(workspace, key));
    for (const link of resolution.links) this.pending.set(`${workspace}|${link.key}`, link.userId);
    return resolution;
  }

  /** Called when the append carrying `links` failed: forget the reservation. */
  release(workspace: string, links: IdentityLink[]): void {
    for (const link of links) this.pending.delete(`${workspace}|${link.key}`);
  }

  /**
   * Called by the runner after each event a projection commits: a link is settled once the identity
   * projection has it in the index. Others (segments, scenarios) also commit `IdentityLinked`, and
   * may be ahead of it; settling then would send the next message of the linked id to its old
   * stream until the index caught up.
   */
  committed(projection: string, event: RecordedEvent): void {
    if (projection !== identityProjection.name || event.type !== IDENTITY_LINKED) return;
    this.pending.delete(`${event.metadata.workspace}|${(event.data as IdentityLink).key}`);
  }

  /** All streams holding the history of the person known by `id` (a user id or an anonymous id). */
  streamsOf(workspace: string, id: string): { userId: string; streams: string[] } {
    const lookup = (key: IdentityKey) => this.lookup(workspace, key);
    const linkedAnonymous = lookup(`anon:${id}`);
    const userId = canonicalUser(lookup(`user:${id}`) ?? linkedAnonymous ?? id, lookup);
    const streams = new Set<string>([userStream(workspace, userId)]);
    if (linkedAnonymous === undefined && userId === id) streams.add(anonymousStream(workspace, id));
    const linksTo = (user: string) => {
      const keys = new Set(this.index.keysLinkedTo(workspace, user));
      for (const [pendingKey, pendingUser] of this.pending) {
        const [ws, key] = splitPending(pendingKey);
        if (ws === workspace && pendingUser === user) keys.add(key);
      }
      return [...keys];
    };
    for (const key of membersOf(userId, linksTo)) {
      streams.add(key.startsWith('anon:') ? anonymousStream(workspace, key.slice(5)) : userStream(workspace, key.slice(5)));
    }
    return { userId, streams: [...streams] };
  }

  private lookup(workspace: string, key: IdentityKey): string | undefined {
    return this.pending.get(`${workspace}|${key}`) ?? this.index.lookup(workspace, key);
  }
}

function splitPending(pendingKey: string): [string, IdentityKey] {
  const bar = pendingKey.indexOf('|');
  return [pendingKey.slice(0, bar), pendingKey.slice(bar + 1) as IdentityKey];
}

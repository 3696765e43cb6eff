/**
 * Identity resolution: which person an incoming message belongs to, and which links it creates.
 *
 * A person is a canonical user id. Anonymous ids and earlier user ids are linked to it by
 * `IdentityLinked` events (from an identify carrying both ids, or an alias). The first link of a
 * key wins, so a shared device keeps its first owner. Links chain (alias a -> b, then b -> c), and
 * resolution follows the chain.
 */

export type IdentityKey = `anon:${string}` | `user:${string}`;

/** The event type of a link, on the user's stream: `IdentityLink` is its data. */
export const IDENTITY_LINKED = 'IdentityLinked';

export const anonKey = (anonymousId: string): IdentityKey => `anon:${anonymousId}`;
export const userKey = (userId: string): IdentityKey => `user:${userId}`;

export interface IdentityLink {
  /** The id being linked, e.g. `anon:3f2a…` or `user:old-id`. */
  key: IdentityKey;
  /** The canonical user id it now belongs to. */
  userId: string;
}

/** What is known about links so far; the server answers it from its identity index. */
export type LinkLookup = (key: IdentityKey) => string | undefined;

const MAX_CHAIN = 32;

/** The canonical user id of a user id, following alias chains. */
export function canonicalUser(userId: string, lookup: LinkLookup): string {
  let current = userId;
  for (let i = 0; i < MAX_CHAIN; i++) {
    const next = lookup(userKey(current));
    if (next === undefined || next === current) return current;
    current = next;
  }
  return current;
}

export interface IdentifiedMessage {
  type: string;
  userId?: string;
  anonymousId?: string;
  previousId?: string;
}

export type Person = { kind: 'user'; userId: string } | { kind: 'anonymous'; anonymousId: string };

export interface Resolution {
  person: Person;
  /** Links this message establishes, to record before the message itself. */
  links: IdentityLink[];
}

/** Decides whose message this is and what it links. Pure: all knowledge comes through `lookup`. */
export function resolveIdentity(message: IdentifiedMessage, lookup: LinkLookup): Resolution {
  const links: IdentityLink[] = [];
  const link = (key: IdentityKey, userId: string) => {
    if (lookup(key) === undefined && !links.some((l) => l.key === key)) links.push({ key, userId });
  };

  if (message.userId !== undefined) {
    const userId = canonicalUser(message.userId, lookup);
    if (message.type === 'alias' && message.previousId !== undefined && message.previousId !== message.userId) {
      // The previous id may have been an anonymous id or an earlier user id: link both readings.
      const previousUser = canonicalUser(message.previousId, lookup);
      if (previousUser !== userId) link(userKey(previousUser), userId);
      link(anonKey(message.previousId), userId);
    }
    if (message.anonymousId !== undefined) link(anonKey(message.anonymousId), userId);
    return { person: { kind: 'user', userId }, links };
  }
  if (message.anonymousId !== undefined) {
    const linked = lookup(anonKey(message.anonymousId));
    if (linked !== undefined) return { person: { kind: 'user', userId: canonicalUser(linked, lookup) }, links };
    return { person: { kind: 'anonymous', anonymousId: message.anonymousId }, links };
  }
  throw new Error('A message needs a userId or an anonymousId');
}

/** In-memory identity state: a fold over `IdentityLinked` events, first link of a key wins. */
export interface IdentityState {
  links: Map<IdentityKey, string>;
}

export const initialIdentityState = (): IdentityState => ({ links: new Map() });

export function evolveIdentity(state: IdentityState, link: IdentityLink): IdentityState {
  if (!state.links.has(link.key)) state.links.set(link.key, link.userId);
  return state;
}

/** Every key that resolves to `userId`, directly or through chained user links. */
export function membersOf(userId: string, linksTo: (userId: string) => IdentityKey[]): IdentityKey[] {
  const members: IdentityKey[] = [];
  const seen = new Set<string>([userId]);
  const queue = [userId];
  while (queue.length > 0) {
    const current = queue.shift()!;
    for (const key of linksTo(current)) {
      members.push(key);
      if (key.startsWith('user:')) {
        const linkedUser = key.slice(5);
        if (!seen.has(linkedUser)) {
          seen.add(linkedUser);
          queue.push(linkedUser);
        }
      }
    }
  }
  return members;
}

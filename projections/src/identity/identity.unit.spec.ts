import {
  anonKey,
  canonicalUser,
  evolveIdentity,
  type IdentityKey,
  type IdentityState,
  initialIdentityState,
  membersOf,
  resolveIdentity,
  userKey,
} from './identity';

function given(...links: Array<[IdentityKey, string]>): IdentityState {
  return links.reduce((state, [key, userId]) => evolveIdentity(state, { key, userId }), initialIdentityState());
}
const lookupIn = (state: IdentityState) => (key: IdentityKey) => state.links.get(key);

describe('resolveIdentity', () => {
  it('keeps an unknown anonymous visitor anonymous and links nothing', () => {
    expect(resolveIdentity({ type: 'track', anonymousId: 'a1' }, lookupIn(given()))).toEqual({
      person: { kind: 'anonymous', anonymousId: 'a1' },
      links: [],
    });
  });

  it('links the anonymous id of an identify carrying both ids', () => {
    const resolution = resolveIdentity({ type: 'identify', userId: 'u1', anonymousId: 'a1' }, lookupIn(given()));
    expect(resolution).toEqual({ person: { kind: 'user', userId: 'u1' }, links: [{ key: anonKey('a1'), userId: 'u1' }] });
  });

  it('routes later anonymous-only events to the linked user', () => {
    const state = given([anonKey('a1'), 'u1']);
    expect(resolveIdentity({ type: 'track', anonymousId: 'a1' }, lookupIn(state)).person).toEqual({ kind: 'user', userId: 'u1' });
  });

  it('keeps the first owner of an anonymous id (shared device)', () => {
    const state = given([anonKey('a1'), 'u1']);
    const second = resolveIdentity({ type: 'identify', userId: 'u2', anonymousId: 'a1' }, lookupIn(state));
    expect(second).toEqual({ person: { kind: 'user', userId: 'u2' }, links: [] });
    expect(evolveIdentity(state, { key: anonKey('a1'), userId: 'u2' }).links.get(anonKey('a1'))).toBe('u1');
  });

  it('links both readings of an alias previousId, and follows alias chains', () => {
    const alias = resolveIdentity({ type: 'alias', previousId: 'old', userId: 'new' }, lookupIn(given()));
    expect(alias.links).toEqual([
      { key: userKey('old'), userId: 'new' },
      { key: anonKey('old'), userId: 'new' },
    ]);
    const state = given([userKey('a'), 'b'], [userKey('b'), 'c']);
    expect(canonicalUser('a', lookupIn(state))).toBe('c');
    expect(resolveIdentity({ type: 'track', userId: 'a' }, lookupIn(state)).person).toEqual({ kind: 'user', userId: 'c' });
  });

  it('does not link a user to itself through an alias cycle', () => {
    const state = given([userKey('a'), 'b']);
    expect(resolveIdentity({ type: 'alias', previousId: 'b', userId: 'a' }, lookupIn(state)).links).toEqual([
      { key: anonKey('b'), userId: 'b' },
    ]);
  });

  it('rejects a message with neither id', () => {
    expect(() => resolveIdentity({ type: 'track' }, lookupIn(given()))).toThrow(/userId or an anonymousId/);
  });
});

describe('membersOf', () => {
  it('collects every key that resolves to the user, through chained user links', () => {
    const state = given([anonKey('a1'), 'u1'], [userKey('u0'), 'u1'], [anonKey('a0'), 'u0'], [anonKey('x'), 'other']);
    const linksTo = (userId: string) => [...state.links].filter(([, to]) => to === userId).map(([key]) => key);
    expect(membersOf('u1', linksTo).sort()).toEqual([anonKey('a0'), anonKey('a1'), userKey('u0')].sort());
  });
});

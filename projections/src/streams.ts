/**
 * Stream names. The workspace is part of every name, so tenants never share a stream; the part
 * before the first '-' is the category (KurrentDB's $by_category convention). Workspace ids are
 * restricted to [a-z0-9_] so the ':' after them is unambiguous, whatever the user id contains.
 */

export const WORKSPACE_ID_PATTERN = /^[a-z0-9_]{1,64}$/;

/** The stream of an identified person (canonical user id). */
export function userStream(workspace: string, userId: string): string {
  return `user-${workspace}:${userId}`;
}

/** The stream of a visitor known only by an anonymous id, until an identify links it to a user. */
export function anonymousStream(workspace: string, anonymousId: string): string {
  return `anon-${workspace}:${anonymousId}`;
}

/** A workspace's segment definitions: `SegmentDefined`, `SegmentDeleted`. */
export function segmentsStream(workspace: string): string {
  return `segments-${workspace}`;
}

/** A workspace's settings, e.g. `MessagingSettingsUpdated`. */
export function settingsStream(workspace: string): string {
  return `settings-${workspace}`;
}

/** The stream of a person given their identity key (`user:<id>` or `anon:<id>`). */
export function personStream(workspace: string, personKey: string): string {
  return personKey.startsWith('anon:') ? anonymousStream(workspace, personKey.slice(5)) : userStream(workspace, personKey.slice(5));
}

/** The identity key of the person a user or anonymous stream belongs to (before any identity merge). */
export function personKeyOfStream(name: string): string | undefined {
  const parsed = parseStream(name);
  if (parsed.category === 'user') return `user:${parsed.userId}`;
  if (parsed.category === 'anon') return `anon:${parsed.anonymousId}`;
  return undefined;
}

/** Workspace registry: creation and write keys. */
export const WORKSPACES_STREAM = 'herald-workspaces';
/** Instance settings such as the admin token hash. */
export const ADMIN_STREAM = 'herald-admin';

export type ParsedStream =
  | { category: 'user'; workspace: string; userId: string }
  | { category: 'anon'; workspace: string; anonymousId: string }
  | { category: 'other'; name: string };

export function parseStream(name: string): ParsedStream {
  const match = /^(user|anon)-([a-z0-9_]{1,64}):(.*)$/s.exec(name);
  if (!match) return { category: 'other', name };
  const [, category, workspace, id] = match;
  return category === 'user' ? { category, workspace, userId: id } : { category: 'anon', workspace, anonymousId: id };
}

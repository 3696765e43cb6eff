/**
 * What a tracked link records: `MessageOpened` for each fetch of the pixel and `MessageClicked` for
 * each click, on the person's stream. Every open and click is its own fact (a new UUIDv7 id): the log
 * keeps the raw events, and "unique opens" is a count of distinct message ids in analytics.
 */
import type { NewEvent } from '../../event-store/event-store.port';
import { uuidv7 } from '../../shared/ids';
import type { LinkPayload } from '../link-signer';

export const TRACKING_EVENTS = { opened: 'MessageOpened', clicked: 'MessageClicked' } as const;

export interface MessageOpened {
  messageId: string;
  channel: string;
  userAgent?: string;
}

export interface MessageClicked {
  messageId: string;
  channel: string;
  url: string;
  userAgent?: string;
}

/** The payload of a valid open link, or undefined. */
export function openLink(payload: LinkPayload | undefined): (LinkPayload & { m: string }) | undefined {
  return payload?.k === 'o' && typeof payload.m === 'string' ? (payload as LinkPayload & { m: string }) : undefined;
}

/** The payload of a valid click link (an http(s) target), or undefined. */
export function clickLink(payload: LinkPayload | undefined): (LinkPayload & { m: string; u: string }) | undefined {
  if (payload?.k !== 'c' || typeof payload.m !== 'string' || typeof payload.u !== 'string') return undefined;
  try {
    const target = new URL(payload.u);
    return target.protocol === 'https:' || target.protocol === 'http:' ? (payload as LinkPayload & { m: string; u: string }) : undefined;
  } catch {
    return undefined;
  }
}

export function openedEvent(link: LinkPayload & { m: string }, userAgent: string | undefined, now: Date): NewEvent<'MessageOpened', MessageOpened> {
  return trackingEvent(TRACKING_EVENTS.opened, { messageId: link.m, channel: link.ch ?? 'email', ...agent(userAgent) }, link.w, now);
}

export function clickedEvent(link: LinkPayload & { m: string; u: string }, userAgent: string | undefined, now: Date): NewEvent<'MessageClicked', MessageClicked> {
  return trackingEvent(TRACKING_EVENTS.clicked, { messageId: link.m, channel: link.ch ?? 'email', url: link.u, ...agent(userAgent) }, link.w, now);
}

function agent(userAgent: string | undefined): { userAgent?: string } {
  return userAgent ? { userAgent: userAgent.slice(0, 512) } : {};
}

function trackingEvent<Type extends string, Data>(type: Type, data: Data, workspace: string, now: Date): NewEvent<Type, Data> {
  const at = now.toISOString();
  return { id: uuidv7(), type, data, metadata: { workspace, occurredAt: at, receivedAt: at, schemaVersion: 1 } };
}

/** A 1x1 transparent GIF (43 bytes). */
export const TRANSPARENT_GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** The inbox use cases: load the person's stream, fold, decide, append. */
import { personStream } from '@herald/projections';
import type { EventStore, NewEvent } from '../../event-store/event-store.port';
import type { Clock } from '../../shared/clock';
import type { AccessGrant } from '../push/access-token';
import { inboxEventId } from './in-app.adapter';
import { IN_APP_EVENTS, type InboxState, inboxFrom, inboxView } from './inbox';
import { decideInbox, type InboxCommand, type InboxDecision } from './inbox.commands';

/** Whose inbox: the grant of the caller's access token (workspace, person, expiry). */
export type InboxPrincipal = AccessGrant;

export interface InboxSnapshot {
  state: InboxState;
  /** Position of the last event of the person's stream that was read (0 for an empty stream). */
  position: number;
}

const ACTION_OF: Record<InboxDecision['type'], 'read' | 'archived' | 'opened' | 'delivered'> = {
  [IN_APP_EVENTS.delivered]: 'delivered',
  [IN_APP_EVENTS.read]: 'read',
  [IN_APP_EVENTS.archived]: 'archived',
  MessageOpened: 'opened',
};

export class InboxService {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {}

  async load(principal: InboxPrincipal): Promise<InboxSnapshot> {
    const events = await this.store.readStream(personStream(principal.workspace, principal.person));
    return { state: inboxFrom(events), position: events.at(-1)?.position ?? 0 };
  }

  async list(principal: InboxPrincipal, options: { archived?: boolean; limit?: number } = {}) {
    return inboxView((await this.load(principal)).state, options);
  }

  /** Records the command's events; returns how many were new (0 when it had been done already). */
  async handle(principal: InboxPrincipal, command: InboxCommand): Promise<{ recorded: number }> {
    const { state } = await this.load(principal);
    const decided = decideInbox(command, state);
    if (decided.length === 0) return { recorded: 0 };
    const now = this.clock.now().toISOString();
    const events: NewEvent[] = decided.map((event) => ({
      // Derived from message and action: two tabs marking the same message read at once record it once.
      id: inboxEventId(principal.workspace, principal.person, event.data.messageId, ACTION_OF[event.type]),
      type: event.type,
      data: event.data,
      metadata: { workspace: principal.workspace, occurredAt: now, receivedAt: now, schemaVersion: 1, source: 'inbox-api' },
    }));
    const result = await this.store.append(personStream(principal.workspace, principal.person), events);
    return { recorded: result.appended };
  }
}

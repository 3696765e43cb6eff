/**
 * A person's in-app inbox: the events on their stream that make it, and the fold that reads it.
 * The inbox has no table of its own; it is whatever the person's stream says, so it survives a
 * rebuild and every node sees the same inbox.
 */

export const IN_APP_EVENTS = {
  delivered: 'InAppMessageDelivered',
  read: 'InAppMessageRead',
  archived: 'InAppMessageArchived',
} as const;

export interface InAppMessageDelivered {
  messageId: string;
  /** The template's subject, rendered; empty when it has none. */
  title: string;
  body: string;
  url?: string;
}

export interface InAppMessageRead {
  messageId: string;
}

export interface InAppMessageArchived {
  messageId: string;
}

export type InboxEvent =
  | { type: typeof IN_APP_EVENTS.delivered; data: InAppMessageDelivered }
  | { type: typeof IN_APP_EVENTS.read; data: InAppMessageRead }
  | { type: typeof IN_APP_EVENTS.archived; data: InAppMessageArchived };

/** What the fold needs of a stored event: its payload, when it happened and where it is in the log. */
export type InboxRecord = InboxEvent & { metadata: { occurredAt: string }; position: number };

export interface InboxMessage {
  messageId: string;
  title: string;
  body: string;
  url?: string;
  deliveredAt: string;
  read: boolean;
  archived: boolean;
  /** Global log position of the delivery; the SSE event id, so a reconnect resumes after it. */
  position: number;
}

export interface InboxState {
  /** In delivery order. */
  messages: Map<string, InboxMessage>;
}

export function initialInboxState(): InboxState {
  return { messages: new Map() };
}

const TYPES = new Set<string>(Object.values(IN_APP_EVENTS));

export function isInboxEvent<E extends { type: string }>(event: E): event is E & InboxEvent {
  return TYPES.has(event.type);
}

/**
 * Read and archive only ever move one way, so replaying them in any number is harmless. Updates the
 * state in place and returns it: a fold over one stream, where copying the map per event would cost
 * O(n^2) for nothing.
 */
export function evolveInbox(state: InboxState, event: InboxRecord): InboxState {
  switch (event.type) {
    case IN_APP_EVENTS.delivered: {
      if (state.messages.has(event.data.messageId)) return state;
      const { messageId, title, body, url } = event.data;
      state.messages.set(messageId, {
        messageId,
        title,
        body,
        ...(url === undefined ? {} : { url }),
        deliveredAt: event.metadata.occurredAt,
        read: false,
        archived: false,
        position: event.position,
      });
      return state;
    }
    case IN_APP_EVENTS.read:
      return update(state, event.data.messageId, { read: true });
    case IN_APP_EVENTS.archived:
      return update(state, event.data.messageId, { archived: true });
    default: {
      const unhandled: never = event;
      throw new Error(`Unhandled inbox event ${JSON.stringify(unhandled)}`);
    }
  }
}

function update(state: InboxState, messageId: string, change: Partial<InboxMessage>): InboxState {
  const message = state.messages.get(messageId);
  if (message) state.messages.set(messageId, { ...message, ...change });
  return state;
}

/** Folds a person's stream; events that are not about the inbox are skipped. */
export function inboxFrom<E extends { type: string; data: unknown; metadata: { occurredAt: string }; position: number }>(events: E[]): InboxState {
  let state = initialInboxState();
  for (const event of events) if (isInboxEvent(event)) state = evolveInbox(state, event as unknown as InboxRecord);
  return state;
}

/** Unread messages still in the inbox. */
export function unreadCount(state: InboxState): number {
  let unread = 0;
  for (const message of state.messages.values()) if (!message.read && !message.archived) unread++;
  return unread;
}

export type InboxItem = Omit<InboxMessage, 'position'>;

export function inboxItem({ position: _position, ...item }: InboxMessage): InboxItem {
  return item;
}

/** What the API shows: newest first, archived ones only when asked for. */
export function inboxView(state: InboxState, options: { archived?: boolean; limit?: number } = {}): { messages: InboxItem[]; unread: number } {
  const listed = [...state.messages.values()].filter((message) => options.archived || !message.archived).reverse();
  const page = options.limit === undefined ? listed : listed.slice(0, options.limit);
  return { messages: page.map(inboxItem), unread: unreadCount(state) };
}

/**
 * What a person can do to their inbox, and what it records. Reading a message is also its open, so
 * it records the channel-neutral `MessageOpened` outcome next to `InAppMessageRead`: analytics and
 * experiment statistics count in-app opens the way they count email opens and WhatsApp reads.
 */
import { IN_APP_EVENTS, type InboxEvent, type InboxState } from './inbox';

export const IN_APP_PROVIDER = 'in-app';

export type InboxCommand = { type: 'MarkInAppMessageRead'; messageId: string } | { type: 'ArchiveInAppMessage'; messageId: string };

export interface MessageOpenedInApp {
  type: 'MessageOpened';
  data: { messageId: string; channel: 'in_app'; provider: typeof IN_APP_PROVIDER; providerMessageId: string; source: 'in_app_read' };
}

export type InboxDecision = InboxEvent | MessageOpenedInApp;

export class InAppMessageNotFoundError extends Error {
  constructor(readonly messageId: string) {
    super(`No in-app message ${JSON.stringify(messageId)} in this inbox`);
    this.name = 'InAppMessageNotFoundError';
  }
}

export function providerMessageIdOf(messageId: string): string {
  return `inapp:${messageId}`;
}

/** The events a command adds; none when it has already been done. Throws for a message the inbox does not hold. */
export function decideInbox(command: InboxCommand, state: InboxState): InboxDecision[] {
  const message = state.messages.get(command.messageId);
  if (!message) throw new InAppMessageNotFoundError(command.messageId);
  const { messageId } = message;
  switch (command.type) {
    case 'MarkInAppMessageRead':
      if (message.read) return [];
      return [
        { type: IN_APP_EVENTS.read, data: { messageId } },
        {
          type: 'MessageOpened',
          data: { messageId, channel: 'in_app', provider: IN_APP_PROVIDER, providerMessageId: providerMessageIdOf(messageId), source: 'in_app_read' },
        },
      ];
    case 'ArchiveInAppMessage':
      return message.archived ? [] : [{ type: IN_APP_EVENTS.archived, data: { messageId } }];
    default: {
      const unhandled: never = command;
      throw new Error(`Unhandled inbox command ${JSON.stringify(unhandled)}`);
    }
  }
}

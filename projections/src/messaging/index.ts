// CHANNELS and Channel are also exported by ../segments/segment-definition (the same list); they
// are left out here so `export *` of both modules does not clash.
export {
  type CapRule,
  type MessagingSettings,
  type SettingsProblem,
  type ParsedMessagingSettings,
  NO_SETTINGS,
  messagingSettingsJsonSchema,
  parseMessagingSettings,
} from './messaging-settings';
export {
  CAP_EVENT_TYPES,
  type CapState,
  type CapUsage,
  type MessageQueuedData,
  type QueuedMessage,
  type SendRequest,
  type SendVerdict,
  canHandleCapEvent,
  capUsage,
  checkSend,
  evolveCapState,
  type HeldMessage,
  heldMessage,
  initialCapState,
  maxCapWindowMs,
  resolveTimeZone,
  rulesFor,
} from './frequency-cap';
export { type QuietHours, isQuietAt, quietHoursEndAfter } from './quiet-hours';

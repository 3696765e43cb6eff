/**
 * Workspace messaging settings (`PUT /api/settings/messaging`): frequency caps, quiet hours and
 * the workspace time zone. See docs/messaging-settings.md.
 */
import { z } from 'zod';
import { DURATION_PATTERN, DurationError, isDuration } from '../time/durations';
import { isTimeZone } from '../time/instants';
import { TIME_OF_DAY } from './quiet-hours';

export const CHANNELS = ['email', 'sms', 'whatsapp', 'telegram', 'push', 'in_app'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface CapRule {
  channel: Channel | 'any';
  max: number;
  /** A duration: `30s`, `15m`, `1h`, `7d`, `2w`. */
  per: string;
}

export interface MessagingSettings {
  caps: CapRule[];
  quietHours?: { start: string; end: string };
  /** IANA zone used when a user has no valid `timezone` trait. */
  timezone?: string;
}

export interface SettingsProblem {
  /** Where in the input, e.g. `caps[1].per`; '' for the document itself. */
  path: string;
  message: string;
}

export type ParsedMessagingSettings =
  | { ok: true; settings: MessagingSettings }
  | { ok: false; problems: SettingsProblem[] };

/** No caps, no quiet hours: what a workspace that never saved settings gets. */
export const NO_SETTINGS: MessagingSettings = Object.freeze({ caps: Object.freeze([]) as unknown as CapRule[] });

const CAP_CHANNELS = [...CHANNELS, 'any'] as const;

/** A value as the user wrote it (JSON.stringify would turn YAML's .inf and .nan into null). */
const show = (value: unknown): string => (typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value)));
const notPositiveInteger = (issue: { input?: unknown }) => `must be a positive integer, got ${show(issue.input)}`;

const timeOfDay = (description: string) =>
  z
    .string({
      error: (issue) =>
        typeof issue.input === 'number'
          ? `expected a quoted "HH:MM" string (YAML reads an unquoted 21:00 as a number), got ${show(issue.input)}`
          : undefined,
    })
    .regex(TIME_OF_DAY, { error: (issue) => `${JSON.stringify(issue.input)} is not a time of day (HH:MM, 00:00-23:59)` })
    .meta({ description, examples: ['21:00', '08:00'] });

const capRuleSchema = z
  .strictObject({
    channel: z.enum(CAP_CHANNELS, {
      error: (issue) =>
        issue.input === undefined ? undefined : `${JSON.stringify(issue.input)} is not a channel (one of ${CAP_CHANNELS.join(', ')})`,
    }).meta({ description: 'The channel whose messages count, or `any` for all channels together.' }),
    max: z
      .number({ error: (issue) => (issue.input === undefined ? undefined : notPositiveInteger(issue)) })
      .int({ error: notPositiveInteger })
      .positive({ error: notPositiveInteger })
      .meta({ description: 'How many non-transactional messages may be queued within the window.' }),
    per: z
      .string()
      .refine(isDuration, { error: (issue) => new DurationError(issue.input).message })
      .meta({
        description: 'The sliding window: a positive whole number and a unit, e.g. 30s, 15m, 1h, 7d, 2w.',
        pattern: DURATION_PATTERN.source,
        examples: ['1d', '7d'],
      }),
  })
  .meta({ description: 'At most `max` messages on `channel` in any window of length `per`.' });

const settingsSchema = z
  .strictObject({
    caps: z.array(capRuleSchema).default([]).meta({ description: 'Frequency caps; all of them must allow a send.' }),
    quietHours: z
      .strictObject({
        start: timeOfDay('Local time quiet hours begin (inclusive).'),
        end: timeOfDay('Local time quiet hours end (exclusive); earlier than start wraps midnight.'),
      })
      .optional()
      .meta({ description: "No non-exempt message is sent while the user's local time is in [start, end)." }),
    timezone: z
      .string()
      .refine(isTimeZone, { error: (issue) => `${JSON.stringify(issue.input)} is not a known IANA time zone (e.g. Europe/Amsterdam)` })
      .optional()
      .meta({ description: "IANA time zone for users without a valid `timezone` trait; UTC when absent.", examples: ['Europe/Amsterdam'] }),
  })
  .meta({
    title: 'Herald messaging settings',
    description: 'Workspace frequency caps, quiet hours and default time zone (PUT /api/settings/messaging).',
  });

/** JSON Schema (draft 2020-12) of the settings document; docs/messaging-settings.schema.json is a copy. */
export const messagingSettingsJsonSchema: object = z.toJSONSchema(settingsSchema, { io: 'input' });

const SETTINGS_KEYS: Record<string, readonly string[]> = {
  root: ['caps', 'quietHours', 'timezone'],
  cap: ['channel', 'max', 'per'],
  quietHours: ['start', 'end'],
};

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) text += text === '' ? key : `.${key}`;
    else text += `[${JSON.stringify(String(key))}]`;
  }
  return text;
}

function knownKeysAt(path: ReadonlyArray<PropertyKey>): readonly string[] {
  if (path.length === 0) return SETTINGS_KEYS.root;
  if (path[0] === 'caps') return SETTINGS_KEYS.cap;
  return SETTINGS_KEYS.quietHours;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : show(value);
}

function genericMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.input === undefined) return 'is required';
  const expected = { object: 'an object', array: 'a list', string: 'a string', number: 'a number' }[issue.expected as string] ?? issue.expected;
  return `expected ${expected}, got ${describe(issue.input)}`;
}

/** Validates a settings document (already parsed from JSON or YAML) and reports every problem with its path. */
export function parseMessagingSettings(input: unknown): ParsedMessagingSettings {
  const result = settingsSchema.safeParse(input, { error: genericMessage });
  const problems: SettingsProblem[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeysAt(issue.path).join(', ');
        for (const key of issue.keys) problems.push({ path: formatPath([...issue.path, key]), message: `unknown key (expected one of ${known})` });
      } else {
        problems.push({ path: formatPath(issue.path), message: issue.message });
      }
    }
  }
  // Checked outside zod so it is reported alongside problems elsewhere in quietHours.
  const quiet = (input as { quietHours?: { start?: unknown; end?: unknown } } | null)?.quietHours;
  if (typeof quiet?.start === 'string' && quiet.start === quiet.end && TIME_OF_DAY.test(quiet.start)) {
    problems.push({ path: 'quietHours.end', message: `must differ from start (both are "${quiet.start}"): quiet hours would be empty` });
  }
  if (problems.length > 0 || !result.success) return { ok: false, problems };
  const { caps, quietHours, timezone } = result.data;
  return {
    ok: true,
    settings: {
      caps: caps.map(({ channel, max, per }) => ({ channel, max, per })),
      ...(quietHours && { quietHours: { start: quietHours.start, end: quietHours.end } }),
      ...(timezone !== undefined && { timezone }),
    },
  };
}

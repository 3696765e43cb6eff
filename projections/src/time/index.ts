export { DURATION_PATTERN, DURATION_UNITS, DurationError, formatDuration, isDuration, parseDuration, type DurationUnit } from './durations';
export { ISO_DATE_PATTERN, isIsoDate, isTimeZone, parseInstant, timeZoneOffset, wallTimeToInstant } from './instants';

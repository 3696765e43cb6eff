/** Strings that break naive escaping: quotes, backslashes, control bytes, line breaks, tabs, comments, non-ASCII. */
export const HOSTILE: readonly string[] = [
  "'",
  "''",
  "\\'",
  '\\',
  'trailing backslash\\',
  "'); DROP TABLE victims; --",
  "' OR 1=1 --",
  '`; DROP TABLE victims; --',
  'nul\0byte',
  'new\nline and \r\n and \t tab',
  '\b\f\v\u0001\u001f\u007f',
  '/* comment */ -- comment',
  '{name:String}',
  'zürich 東京 🚀 \u200b',
  '',
];

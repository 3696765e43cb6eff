/**
 * `herald simulate <scenario file> --from <date> --to <date>`: reads the draft and the settings
 * files, runs the simulation (scenarios/simulation/simulate-scenario.ts, which says how history is
 * replayed) and prints its report as tables or JSON.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { SingleBar } from 'cli-progress';
import { InvalidArgumentError } from 'commander';
import { type MessagingSettings, parseMessagingSettings, parseScenarioDefinition, type ScenarioDefinition, type SuppressionReason } from '@herald/projections';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { EventStore } from '../event-store/event-store.port';
import { type SimulateOptions, type SimulationReport, simulateScenario, SUPPRESSION_REASONS, unsimulatedTrigger, windowBound } from '../scenarios/simulation/simulate-scenario';


/** A `--from` / `--to` value: an ISO 8601 date or date-time; without an offset it is UTC. */
export function parseDate(which: 'from' | 'to'): (value: string) => number {
  return (value: string) => {
    const instant = windowBound(which, value);
    if (instant === undefined) {
      throw new InvalidArgumentError('expected an ISO 8601 date or date-time, e.g. 2026-03-01 or 2026-03-01T09:30:00Z');
    }
    return instant;
  };
}

function readDocument(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
  try {
    return extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split('\n')[0] : (error as Error).message;
    throw new Error(`${path} is not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${detail}`);
  }
}

function problemsError(path: string, what: string, problems: Array<{ path: string; message: string; rule?: string }>): Error {
  const lines = problems.map((p) => `  ${p.path || '(definition)'}: ${p.message}${p.rule ? ` [${p.rule}]` : ''}`);
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return new Error(`${path} is not a valid ${what} (${count}):\n${lines.join('\n')}`);
}

/** Reads and validates a scenario file (YAML, or JSON for `.json`); throws with every problem and its path. */
export function loadScenarioFile(path: string): ScenarioDefinition {
  const parsed = parseScenarioDefinition(readDocument(path, 'scenario file'));
  if (!parsed.ok) throw problemsError(path, 'scenario', parsed.problems);
  const unsimulated = unsimulatedTrigger(parsed.definition);
  if (unsimulated) throw new Error(`${path}: ${unsimulated.path}: ${unsimulated.message}`);
  return parsed.definition;
}

/** Reads and validates a messaging settings file (the body of `PUT /api/settings/messaging`). */
export function loadSettingsFile(path: string): MessagingSettings {
  const parsed = parseMessagingSettings(readDocument(path, 'settings file'));
  if (!parsed.ok) throw problemsError(path, 'messaging settings document', parsed.problems);
  return parsed.settings;
}

// The run

/** The simulation, with a progress bar on `progress` (a terminal) while it reads the log. */
export async function simulateWithProgress(
  store: EventStore,
  definition: ScenarioDefinition,
  options: Omit<SimulateOptions, 'onProgress'> & { progress?: NodeJS.WritableStream },
): Promise<SimulationReport> {
  const { progress, ...simulateOptions } = options;
  const bar = progress ? new SingleBar({ stream: progress, format: 'Simulating [{bar}] {percentage}% | position {value}/{total} | {eta_formatted} left' }) : undefined;
  let started = false;
  try {
    return await simulateScenario(store, definition, {
      ...simulateOptions,
      onProgress: bar
        ? (position, head) => {
            if (!started) bar.start(head, 0);
            started = true;
            bar.update(position);
          }
        : undefined,
    });
  } finally {
    bar?.stop();
  }
}

// Output

const percent = (rate: number | null) => (rate === null ? '-' : `${(rate * 100).toFixed(1)}%`);

function table(rows: string[][], rightAligned: (column: number) => boolean): string[] {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) =>
    row
      .map((cell, column) => (rightAligned(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd(),
  );
}

function describeSettings(settings: MessagingSettings): string {
  const parts = settings.caps.map((cap) => `${cap.channel} ${cap.max}/${cap.per}`);
  const caps = parts.length > 0 ? `caps ${parts.join(', ')}` : 'no caps';
  const quiet = settings.quietHours ? `quiet hours ${settings.quietHours.start}-${settings.quietHours.end}` : 'no quiet hours';
  return `${caps}; ${quiet}; time zone ${settings.timezone ?? 'UTC'}`;
}

/** The report as text tables, for a terminal. */
export function formatReport(r: SimulationReport): string {
  const settingsSource =
    r.settings.source === 'file'
      ? 'from --settings'
      : `from the log (version ${r.settings.versions && r.settings.versions.length > 0 ? r.settings.versions.join(', ') : '0'})`;
  const exits = Object.entries(r.exits)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, count]) => `${reason} ${count}`);
  const running = Object.entries(r.running.byStep)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([step, count]) => `${step} ${count}`);
  const lines = [
    `Simulation of ${r.scenario.id} (${r.scenario.name}) in workspace ${r.workspace}: nothing was sent or appended`,
    `Window    ${r.from} .. ${r.to}`,
    `History   ${r.history.events} events of ${r.history.persons} persons, up to ${r.to}`,
    `Settings  ${settingsSource}: ${describeSettings(r.settings.inForce)}`,
    '',
    `Entries   ${r.entries} (${r.enrolledPersons} persons)`,
    `Goals     ${r.goals.reached} (${percent(r.goals.rate)} of entries)`,
    `Exits     ${exits.length > 0 ? exits.join(', ') : 'none'}`,
    `Running   ${r.running.total} at ${r.to}${running.length > 0 ? ` (${running.join(', ')})` : ''}`,
    '',
    'Messages per step and variant',
  ];
  const rows: string[][] = [['step', 'channel', 'variant', 'assigned', 'queued', 'deferred', 'capped', 'unsubscribed', 'held out', 'goals', 'conversion']];
  for (const step of r.steps) {
    const counts = (c: { queued: number; deferred: number; suppressed: Record<SuppressionReason, number> }) => [
      String(c.queued),
      String(c.deferred),
      String(c.suppressed.frequency_cap),
      String(c.suppressed.unsubscribed),
      String(c.suppressed.holdout),
    ];
    for (const v of step.variants) {
      rows.push([step.stepId, step.channel, v.key, String(v.assigned), ...counts(v), String(v.goals), percent(v.conversionRate)]);
    }
    rows.push([step.stepId, step.channel, step.variants.length > 0 ? 'all' : '-', String(step.reached), ...counts(step), '', '']);
  }
  lines.push(...table(rows, (column) => column >= 3).map((line) => `  ${line}`));
  lines.push('  (assigned: enrolments that reached the step; on the "all" row, messages the step decided on)');
  lines.push('', 'Suppressions by reason');
  lines.push(
    ...table(
      SUPPRESSION_REASONS.map((reason) => [reason, String(r.suppressions[reason]), reason === 'quiet_hours' ? 'deferred until quiet hours end' : '']),
      (column) => column === 1,
    ).map((line) => `  ${line}`),
  );
  return `${lines.join('\n')}\n`;
}

import { lintScenario, LINT_RULES, type LintProblem } from './lint-scenario';
import type { ScenarioDefinition, Step } from './scenario-definition';

const scenario = (steps: Step[]): ScenarioDefinition => ({ id: 's', name: 'S', trigger: { event: 'Signed Up' }, steps });
const send = (id: string, next?: string): Step => ({ id, send: { channel: 'email', template: id }, ...(next && { next }) });
const wait = (id: string, next?: string): Step => ({ id, wait: '1d', ...(next && { next }) });
const waitFor = (id: string, onEvent: string, onTimeout: string, timeout: string | null = '1d'): Step =>
  ({ id, waitFor: { event: 'Order Completed', ...(timeout !== null && { timeout }) }, onEvent, onTimeout }) as Step;
const branch = (id: string, targets: string[], otherwise: string): Step => ({
  id,
  branch: targets.map((next) => ({ when: { trait: 'plan', op: 'eq', value: 'pro' }, next })),
  otherwise,
});
const exitStep = (id: string): Step => ({ id, exit: true });
const rulesOf = (problems: LintProblem[]) => problems.map(({ rule, path }) => `${rule} ${path}`);

describe('lintScenario', () => {
  it('has the rules of docs/scenarios.md', () => {
    expect(LINT_RULES).toEqual([
      'unreachable-step',
      'waitfor-without-timeout',
      'loop-without-wait',
      'branch-without-exit',
      'send-without-template',
      'experiment-control',
      'auto-winner-without-goal',
    ]);
  });

  it('finds nothing in a straight line, nor in jumps that all end', () => {
    expect(lintScenario(scenario([send('a'), wait('b'), send('c')]))).toEqual([]);
    expect(lintScenario(scenario([waitFor('w', 'done', 'nudge'), send('nudge'), exitStep('done')]))).toEqual([]);
    // A loop with a wait in it is a reminder every day until the user acts (or exitOn ends it).
    expect(lintScenario(scenario([send('remind'), waitFor('w', 'done', 'remind'), exitStep('done')]))).toEqual([]);
  });

  describe('unreachable-step', () => {
    it('reports a step after an exit that nothing jumps to', () => {
      expect(lintScenario(scenario([send('a'), exitStep('done'), send('orphan')]))).toEqual([
        {
          rule: 'unreachable-step',
          path: 'steps[2]',
          message:
            'step "orphan" is never reached: no path from the first step "a" leads to it; the step before it, "done", ends the enrolment; name it in a next, onEvent, onTimeout or branch target, or remove it',
        },
      ]);
    });

    it('reports a step jumped over, and what only it leads to', () => {
      const problems = lintScenario(scenario([send('a', 'c'), send('skipped'), send('only-after-skipped', 'c'), send('c')]));
      expect(rulesOf(problems)).toEqual(['unreachable-step steps[1]', 'unreachable-step steps[2]']);
      expect(problems[0].message).toContain('the step before it, "a", goes on elsewhere');
      expect(problems[1].message).not.toContain('the step before it');
    });

    it('follows onEvent, onTimeout and branch targets', () => {
      expect(lintScenario(scenario([branch('b', ['x'], 'y'), exitStep('end'), send('x', 'end'), waitFor('y', 'end', 'z'), send('z')]))).toEqual([]);
      expect(rulesOf(lintScenario(scenario([waitFor('w', 'end', 'end'), send('never'), exitStep('end')])))).toEqual(['unreachable-step steps[1]']);
    });
  });

  describe('waitfor-without-timeout', () => {
    it('reports a waitFor without a timeout at the timeout path', () => {
      expect(rulesOf(lintScenario(scenario([waitFor('w', 'done', 'done', null), exitStep('done')])))).toEqual(['waitfor-without-timeout steps[0].waitFor.timeout']);
    });
  });

  describe('loop-without-wait', () => {
    it('reports a cycle of sends once, at the jump that closes it', () => {
      const problems = lintScenario(scenario([send('a'), send('b', 'a')]));
      expect(problems).toContainEqual({
        rule: 'loop-without-wait',
        path: 'steps[1].next',
        message: 'steps a -> b -> a loop with no wait: they would run again and again at once; put a wait, waitUntil or waitFor step in the loop',
      });
      expect(rulesOf(problems).filter((rule) => rule.startsWith('loop'))).toHaveLength(1);
    });

    it('reports a step that jumps to itself', () => {
      expect(rulesOf(lintScenario(scenario([send('a', 'a')])))).toEqual(['loop-without-wait steps[0].next']);
    });

    it('reports a loop through a branch and a webhook, and names the shortest cycle', () => {
      const steps: Step[] = [
        send('start'),
        branch('check', ['ping'], 'done'),
        { id: 'ping', webhook: { url: 'https://example.com' } },
        send('again', 'check'),
        exitStep('done'),
      ];
      const problems = lintScenario(scenario(steps));
      expect(problems).toEqual([
        {
          rule: 'loop-without-wait',
          path: 'steps[3].next',
          message:
            'steps check -> ping -> again -> check loop with no wait: they would run again and again at once; put a wait, waitUntil or waitFor step in the loop',
        },
      ]);
    });

    it('accepts a loop with a wait, waitUntil or waitFor on it', () => {
      expect(lintScenario(scenario([send('a'), wait('b', 'a')])).map((p) => p.rule)).not.toContain('loop-without-wait');
      expect(lintScenario(scenario([send('a'), { id: 'b', waitUntil: { time: '10:00' }, next: 'a' }])).map((p) => p.rule)).not.toContain('loop-without-wait');
      expect(lintScenario(scenario([send('a'), waitFor('b', 'a', 'end'), exitStep('end')]))).toEqual([]);
    });

    it('handles long scenarios without recursion', () => {
      const steps: Step[] = Array.from({ length: 20_000 }, (_, i) => send(`s${i}`));
      steps.push(send('back', 's0'));
      expect(rulesOf(lintScenario(scenario(steps)))).toEqual(['loop-without-wait steps[20000].next']);
    });
  });

  describe('branch-without-exit', () => {
    it('reports a branch whose every way leads into an endless loop', () => {
      const steps: Step[] = [branch('check', ['a'], 'b'), wait('a', 'b'), send('b', 'a')];
      expect(lintScenario(scenario(steps))).toEqual([
        {
          rule: 'branch-without-exit',
          path: 'steps[0].branch',
          message:
            'no path from branch "check" ever ends the enrolment: every case and otherwise lead into a loop; add an exit step, or let a path reach the last step',
        },
      ]);
    });

    it('accepts a branch with one way out, through an exit or off the end of the list', () => {
      expect(lintScenario(scenario([branch('check', ['a'], 'done'), wait('a', 'check'), exitStep('done')]))).toEqual([]);
      expect(lintScenario(scenario([wait('w'), branch('check', ['w'], 'last'), send('last')]))).toEqual([]);
    });
  });

  describe('experiment-control and auto-winner-without-goal', () => {
    const ab = (extra: Record<string, unknown>): Step =>
      ({
        id: 'ab',
        send: { channel: 'email', variants: [{ key: 'x', weight: 1, template: 'x' }, { key: 'y', weight: 1, template: 'y' }], ...extra },
      }) as Step;
    it('reports a control that is not a variant, and an auto-winner with no goal to measure', () => {
      expect(lintScenario(scenario([ab({ control: 'z', autoWinner: { minExposures: 10 } })]))).toEqual([
        { rule: 'experiment-control', path: 'steps[0].send.control', message: 'control "z" of step "ab" is not one of its variants (x, y)' },
        {
          rule: 'auto-winner-without-goal',
          path: 'steps[0].send.autoWinner',
          message:
            'step "ab" picks a winner by conversions, but the scenario has no goal; add goal: { event, within } (what counts as a conversion) or remove autoWinner',
        },
      ]);
      const withGoal = { ...scenario([ab({ control: 'y', autoWinner: { minExposures: 10, alpha: 0.05 } })]), goal: { event: 'Order Completed', within: '1d' } };
      expect(lintScenario(withGoal)).toEqual([]);
    });
  });

  describe('send-without-template', () => {
    it('reports a send with neither template nor variants, and a variant without a template', () => {
      const steps = [
        { id: 'a', send: { channel: 'email' } },
        { id: 'b', send: { channel: 'email', variants: [{ key: 'x', weight: 1, template: 'x' }, { key: 'y', weight: 1 }] } },
      ] as Step[];
      expect(lintScenario(scenario(steps))).toEqual([
        { rule: 'send-without-template', path: 'steps[0].send', message: 'step "a" sends nothing: give it a template (one message) or variants (an A/B test, each with its template)' },
        { rule: 'send-without-template', path: 'steps[1].send.variants[1].template', message: 'variant "y" of step "b" has no template' },
      ]);
    });
  });

  it('orders findings by step, then rule, and ignores jumps to unknown steps', () => {
    const steps = [
      send('a', 'nowhere'),
      { id: 'b', send: { channel: 'sms' } },
      { id: 'c', waitFor: { event: 'X' }, onEvent: 'c2', onTimeout: 'c2' },
      send('c2', 'c2'),
    ] as Step[];
    expect(rulesOf(lintScenario(scenario(steps)))).toEqual([
      'unreachable-step steps[1]',
      'send-without-template steps[1].send',
      'unreachable-step steps[2]',
      'waitfor-without-timeout steps[2].waitFor.timeout',
      'unreachable-step steps[3]',
      'loop-without-wait steps[3].next',
    ]);
  });
});

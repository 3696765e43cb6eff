import { Drop } from 'liquidjs';
import { setDirectOutput } from './liquid-fast-output';
import { htmlLiquid, textLiquid } from './template-compiler';

class Name extends Drop {
  override valueOf() {
    return 'Drop<Ada>';
  }
}

/** Inherited, not own: liquidjs (ownPropertyOnly) does not read it. */
const inherited = Object.create({ first_name: 'Inherited' }) as Record<string, unknown>;

const scope = () => ({
  user: { first_name: 'Ada <&> "O\'Neil"', empty: '', zero: 0, count: 3, vip: true, tags: ['a', 'b'], nested: { city: 'Paris' }, nothing: null, drop: new Name(), fn: () => 'called' },
  inherited,
  trigger: { products: [{ name: 'Shoes', quantity: 1 }, { name: 'Socks & <b>', quantity: 0 }], 'odd key': 'odd' },
  message: { unsubscribe_url: 'https://h.example/u?t=1&c=email', preferences_url: '' },
});

/** Every output form: those the direct path writes, and those it hands back to liquidjs. */
const CASES = [
  '{{ user.first_name }}',
  '{{ user.first_name | default: "there" }}',
  '{{ user.empty | default: "there" }}',
  '{{ user.empty | default: user.first_name }}',
  '{{ message.preferences_url | default: message.unsubscribe_url }}',
  '{{ user.zero | default: "none" }}',
  '{{ user.count }} {{ user.zero }}',
  '{{ user.missing | default: "there" }}',
  '{{ user.first_name | default: user.missing }}',
  '{{ user.missing }}',
  '{{ user.vip }} {{ user.nothing | default: "-" }} {{ user.tags }} {{ user.tags.size }} {{ user.tags.first }}',
  '{{ user.nested.city }} {{ user.nested }}',
  '{{ user.drop }} {{ user.fn }}',
  '{{ inherited.first_name | default: "own only" }}',
  '{{ inherited.first_name }}',
  "{{ trigger['odd key'] }}",
  '{{ user.first_name | upcase }} {{ user.first_name | raw }} {{ user.first_name | escape }}',
  '{% for product in trigger.products %}[{{ product.name }} x{{ product.quantity | default: 1 }}]{% endfor %}',
  '{% assign user = trigger %}{{ user.products.size }}',
  '{% for user in trigger.products %}{{ user.name }}{% endfor %}{{ user.first_name }}',
  '{% if user.vip %}{{ user.first_name }}{% else %}x{% endif %}<p>static & "html"</p>',
];

function outcome(engine: typeof htmlLiquid, source: string): string {
  try {
    return `ok:${String(engine.renderSync(engine.parse(source), scope()))}`;
  } catch (error) {
    return `error:${(error as Error).name}:${(error as Error).message}`;
  }
}

describe('direct Liquid outputs', () => {
  afterEach(() => setDirectOutput(true));

  it.each(CASES)('%s renders as liquidjs renders it, in HTML and in text', (source) => {
    for (const engine of [htmlLiquid, textLiquid]) {
      setDirectOutput(false);
      const expected = outcome(engine, source);
      setDirectOutput(true);
      expect(outcome(engine, source)).toBe(expected);
    }
  });

  it('escapes what it writes into HTML and leaves text as it is', () => {
    const source = '{{ user.first_name }}|{{ user.empty | default: trigger.products.first.name }}';
    expect(outcome(htmlLiquid, source)).toBe('ok:Ada &lt;&amp;&gt; &#34;O&#39;Neil&#34;|Shoes');
    expect(outcome(textLiquid, source)).toBe('ok:Ada <&> "O\'Neil"|Shoes');
  });

  it('an unset variable still fails without a default, and an unset default fails even when not needed', () => {
    expect(outcome(textLiquid, 'Hi {{ user.missing }}')).toMatch(/^error:UndefinedVariableError:undefined variable: user\.missing/);
    expect(outcome(textLiquid, '{{ user.first_name | default: user.missing }}')).toMatch(/^error:UndefinedVariableError:undefined variable: user\.missing/);
  });
});

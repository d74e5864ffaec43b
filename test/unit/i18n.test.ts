import { describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/commands/index.js';
import { COMMAND_LOCALES } from '../../src/i18n/commands.js';
import { enUS } from '../../src/i18n/en-US.js';
import { placeholders, supportedLocale, t } from '../../src/i18n/index.js';
import { zhCN } from '../../src/i18n/zh-CN.js';
import { checkCommandNames } from '../e2e/helpers/discordSchemas.js';

const NAME_RULE = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

describe('message catalogues', () => {
  it('GIVEN en-US and zh-CN THEN each has every key of the other', () => {
    const en = Object.keys(enUS).sort();
    const zh = Object.keys(zhCN).sort();
    expect(en.filter((k) => !zh.includes(k))).toEqual([]);
    expect(zh.filter((k) => !en.includes(k))).toEqual([]);
  });

  it('GIVEN every key THEN the zh-CN text uses exactly the placeholders of the English one', () => {
    const mismatched = Object.entries(enUS)
      .filter(
        ([key, english]) =>
          JSON.stringify(placeholders(zhCN[key as keyof typeof zhCN])) !== JSON.stringify(placeholders(english)),
      )
      .map(([key]) => key);
    expect(mismatched).toEqual([]);
  });

  it('GIVEN every key THEN the zh-CN text is Chinese, not an English copy (a few brand-only strings aside)', () => {
    const sameAsEnglish = Object.entries(enUS)
      .filter(([key, english]) => zhCN[key as keyof typeof zhCN] === english)
      .map(([key]) => key);
    expect(sameAsEnglish).toEqual(['button.hd', 'button.uhd']); // "1080P" and "4K" read the same in both
    for (const [key, text] of Object.entries(zhCN)) {
      if (sameAsEnglish.includes(key)) continue;
      expect(text, key).toMatch(/\p{Script=Han}/u);
    }
  });

  it('GIVEN an interaction locale THEN zh-CN is chosen, and anything else falls back to en-US', () => {
    expect(supportedLocale('zh-CN')).toBe('zh-CN');
    expect(supportedLocale('zh-TW')).toBe('en-US');
    expect(supportedLocale(null)).toBe('en-US');
    expect(t('zh-CN', 'result.units_left', { remaining: 3, limit: 5 })).toBe(
      zhCN['result.units_left'].replace('{remaining}', '3').replace('{limit}', '5'),
    );
    expect(t('fr', 'button.rerun')).toBe('Rerun');
  });
});

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function children(node: Node, key: 'options' | 'choices'): Node[] {
  const list = node[key];
  return Array.isArray(list) ? list.filter(isNode) : [];
}

/** Every command, subcommand and option (with its path), and every choice. */
function walk(
  node: Node,
  path: string,
  out: { entities: [string, Node][]; choices: [string, Node][]; siblings: Node[][] },
): void {
  out.entities.push([path, node]);
  const options = children(node, 'options');
  if (options.length > 0) out.siblings.push(options);
  for (const choice of children(node, 'choices')) out.choices.push([`${path}=${String(choice.value)}`, choice]);
  for (const option of options) walk(option, `${path}.${String(option.name)}`, out);
}

describe('command localizations', () => {
  const out = { entities: [] as [string, Node][], choices: [] as [string, Node][], siblings: [] as Node[][] };
  for (const command of commandDefinitions) walk(command as unknown as Node, command.name, out);

  it('GIVEN the definitions THEN the walk covers both commands, their subcommands, options and choices', () => {
    expect(out.entities.map(([p]) => p)).toEqual(
      expect.arrayContaining(['veo', 'veo.prompt', 'veo.jobs', 'veo-admin', 'veo-admin.limits.cost_fast']),
    );
    expect(out.choices.map(([p]) => p)).toEqual(
      expect.arrayContaining(['veo.prompt.model=veo3', 'veo.animate.aspect=Auto']),
    );
  });

  it('GIVEN every command, subcommand and option THEN each has a valid zh-CN name and description', () => {
    const problems: string[] = [];
    for (const [path, node] of out.entities) {
      for (const locale of COMMAND_LOCALES) {
        const name = isNode(node.name_localizations) ? node.name_localizations[locale] : undefined;
        const description = isNode(node.description_localizations) ? node.description_localizations[locale] : undefined;
        if (typeof name !== 'string' || !NAME_RULE.test(name) || name !== name.toLowerCase())
          problems.push(`${path}: name ${String(name)}`);
        if (typeof description !== 'string' || description.length < 1 || description.length > 100) {
          problems.push(`${path}: description ${String(description)}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('GIVEN every choice THEN it has a zh-CN name of 1-100 characters', () => {
    const problems = out.choices
      .filter(([, choice]) => {
        const name = isNode(choice.name_localizations) ? choice.name_localizations['zh-CN'] : undefined;
        return typeof name !== 'string' || name.length < 1 || name.length > 100;
      })
      .map(([path]) => path);
    expect(problems).toEqual([]);
  });

  it('GIVEN siblings THEN their zh-CN names are distinct, as Discord requires', () => {
    for (const group of out.siblings) {
      const names = group.map((n) => (isNode(n.name_localizations) ? n.name_localizations['zh-CN'] : n.name));
      expect(new Set(names).size, JSON.stringify(names)).toBe(names.length);
    }
  });

  it('GIVEN the definitions THEN the loopback schema checker finds nothing wrong, localizations included', () => {
    expect(checkCommandNames(commandDefinitions)).toEqual([]);
    const broken = { ...commandDefinitions[0], name_localizations: { 'zh-CN': 'Veo Video' } };
    expect(checkCommandNames(broken).join('\n')).toContain('(zh-CN)');
  });
});

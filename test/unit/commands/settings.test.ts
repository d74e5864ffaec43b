import { ComponentType } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { changeFor, renderSettings } from '../../../src/commands/veo/settings.js';

describe('/veo settings view and choices', () => {
  it('GIVEN each menu THEN only the values it offered change anything', () => {
    expect(changeFor('model', 'veo3_lite')).toEqual({ model: 'veo3_lite' });
    expect(changeFor('model', 'default')).toEqual({ model: null });
    expect(changeFor('model', 'sora')).toBeNull();
    expect(changeFor('aspect', '9:16')).toEqual({ aspect: '9:16' });
    expect(changeFor('aspect', 'Auto')).toBeNull();
    expect(changeFor('private', 'private')).toEqual({ private: true });
    expect(changeFor('private', 'default')).toEqual({ private: null });
    expect(changeFor('forget', 'default')).toBeNull();
  });

  it('GIVEN both languages THEN three menus and a button within Discord’s limits, the current choice marked', () => {
    for (const locale of ['en-US', 'zh-CN']) {
      const view = renderSettings(locale, { model: 'veo3', private: true }, 'veo3_fast');
      expect(view.components).toHaveLength(4);
      expect(view.content.length).toBeLessThanOrEqual(2000);
      for (const row of view.components) {
        for (const component of row.components) {
          expect([ComponentType.Button, ComponentType.StringSelect]).toContain(component.type);
          if (component.type !== ComponentType.StringSelect) continue;
          expect(component.options.length).toBeLessThanOrEqual(25);
          expect(component.options.filter((o) => o.default)).toHaveLength(1);
          for (const option of component.options) expect(option.label.length).toBeLessThanOrEqual(100);
        }
      }
    }
    const [model, aspect, privacy] = renderSettings('en-US', { model: 'veo3', private: true }, 'veo3_fast').components;
    const marked = (row: typeof model) =>
      row?.components.flatMap((c) =>
        c.type === ComponentType.StringSelect ? c.options.filter((o) => o.default).map((o) => o.value) : [],
      );
    expect([marked(model), marked(aspect), marked(privacy)]).toEqual([['veo3'], ['default'], ['private']]);
  });
});

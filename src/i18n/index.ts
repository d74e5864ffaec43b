import { enUS, type MessageKey } from './en-US.js';
import { zhCN } from './zh-CN.js';

export type { MessageKey };
export type MessageParams = Readonly<Record<string, string | number>>;
export type Catalogue = Readonly<Record<MessageKey, string>>;

/** Chosen by `interaction.locale` (a job keeps its requester's); anything else falls back to en-US. */
const catalogues: Readonly<Record<string, Catalogue>> = { 'en-US': enUS, 'zh-CN': zhCN };

export const FALLBACK_LOCALE = 'en-US';

export function supportedLocale(locale: string | null | undefined): string {
  if (locale && locale in catalogues) return locale;
  return FALLBACK_LOCALE;
}

export function t(locale: string | null | undefined, key: MessageKey, params: MessageParams = {}): string {
  const template = (catalogues[supportedLocale(locale)] ?? enUS)[key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}

export function placeholders(template: string): string[] {
  return [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort();
}

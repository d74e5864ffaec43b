/**
 * A server's prompt filter (DESIGN §1.8): blocked words and phrases, matched as whole words, ignoring
 * case and accents. Pure; the list itself lives in the server's settings.
 */

export const FILTER_MAX_ENTRIES = 200;
export const FILTER_ENTRY_MAX = 60;

/** What admins separate entries with: the ASCII comma, and the full-width and enumeration commas of CJK text. */
const SEPARATORS = /[,，、]/u;
/** Accents on these alphabets are dropped; elsewhere a mark is part of the letter (a Devanagari vowel, a kana's dakuten). */
const ACCENTED = /([\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}])\p{M}+/gu;
const WORD_CHAR = /^[\p{L}\p{N}\p{M}]$/u;
/** Scripts written without spaces between words: there is no boundary to find, so an entry matches inside a run. */
const UNSPACED =
  /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]$/u;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Compatibility-decomposed (full-width letters, ligatures), lowercased, accents dropped, spaces collapsed. */
export function foldText(text: string): string {
  // Plain ASCII has nothing to decompose: skipping it makes a 200-entry check several times cheaper.
  const folded = PRINTABLE_ASCII.test(text)
    ? text.toLowerCase()
    : text.normalize('NFKD').toLowerCase().replace(ACCENTED, '$1');
  return folded.replace(/\s+/gu, ' ').trim();
}

/** A letter, digit or mark of a script that separates words with spaces. */
function bindsWord(char: string | undefined): boolean {
  return char !== undefined && WORD_CHAR.test(char) && !UNSPACED.test(char);
}

function charBefore(text: string, index: number): string | undefined {
  return index === 0 ? undefined : Array.from(text.slice(Math.max(0, index - 2), index)).at(-1);
}

function charAt(text: string, index: number): string | undefined {
  const code = text.codePointAt(index);
  return code === undefined ? undefined : String.fromCodePoint(code);
}

/**
 * `needle` (folded) stands in `text` (folded) as a whole word or phrase: an edge of it that is a word
 * character of a spaced script must not touch another one. Edges in CJK or Thai have no such rule.
 */
function containsWhole(text: string, needle: string): boolean {
  if (needle === '') return false;
  const guardStart = bindsWord(charAt(needle, 0));
  const guardEnd = bindsWord(Array.from(needle).at(-1));
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
    if (guardStart && bindsWord(charBefore(text, at))) continue;
    if (guardEnd && bindsWord(charAt(text, at + needle.length))) continue;
    return true;
  }
  return false;
}

/** Whether any entry appears in the prompt. */
export function matchesFilter(prompt: string, entries: readonly string[]): boolean {
  if (entries.length === 0) return false;
  const text = foldText(prompt);
  return entries.some((entry) => containsWhole(text, foldText(entry)));
}

/** The entries an admin typed, trimmed, inner spaces collapsed, empty ones dropped. */
export function parseEntries(words: string): string[] {
  return words
    .split(SEPARATORS)
    .map((w) => w.replace(/\s+/gu, ' ').trim())
    .filter((w) => w.length > 0);
}

export type FilterChange =
  | { readonly ok: true; readonly entries: readonly string[]; readonly changed: number; readonly unchanged: number }
  | { readonly ok: false; readonly reason: 'empty' }
  | { readonly ok: false; readonly reason: 'too_long'; readonly entry: string; readonly length: number }
  | { readonly ok: false; readonly reason: 'full'; readonly count: number };

/** `current` with the new entries appended (one per folded form); refused whole when one is too long or the list overflows. */
export function addEntries(current: readonly string[], words: string): FilterChange {
  const incoming = parseEntries(words);
  if (incoming.length === 0) return { ok: false, reason: 'empty' };
  const tooLong = incoming.find((entry) => Array.from(entry).length > FILTER_ENTRY_MAX);
  if (tooLong !== undefined)
    return { ok: false, reason: 'too_long', entry: tooLong, length: Array.from(tooLong).length };
  const seen = new Set(current.map(foldText));
  const added: string[] = [];
  for (const entry of incoming) {
    const folded = foldText(entry);
    if (seen.has(folded)) continue;
    seen.add(folded);
    added.push(entry);
  }
  const entries = [...current, ...added];
  if (entries.length > FILTER_MAX_ENTRIES) return { ok: false, reason: 'full', count: entries.length };
  return { ok: true, entries, changed: added.length, unchanged: incoming.length - added.length };
}

/** `current` without the named entries (compared folded, so "CAFÉ" removes "café"). */
export function removeEntries(current: readonly string[], words: string): FilterChange {
  const incoming = parseEntries(words);
  if (incoming.length === 0) return { ok: false, reason: 'empty' };
  const gone = new Set(incoming.map(foldText));
  const entries = current.filter((entry) => !gone.has(foldText(entry)));
  const changed = current.length - entries.length;
  return { ok: true, entries, changed, unchanged: Math.max(0, gone.size - changed) };
}

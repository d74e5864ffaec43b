import { describe, expect, it } from 'vitest';
import {
  addEntries,
  FILTER_ENTRY_MAX,
  FILTER_MAX_ENTRIES,
  foldText,
  matchesFilter,
  parseEntries,
  removeEntries,
} from '../../../src/lib/wordFilter.js';

describe('the prompt filter (DESIGN §1.8)', () => {
  it('GIVEN case, accents, full-width letters and odd spacing THEN they fold to one form', () => {
    expect(foldText('  Crème   BRÛLÉE ')).toBe('creme brulee');
    expect(foldText('ＣＡＴ')).toBe('cat');
    expect(foldText('İstanbul')).toBe('istanbul');
    expect(foldText('Ελληνικά')).toBe('ελληνικα');
  });

  it('GIVEN an entry THEN it matches as a whole word or phrase only', () => {
    expect(matchesFilter('A CAT on the roof', ['cat'])).toBe(true);
    expect(matchesFilter("the cat's toy, cat-like", ['cat'])).toBe(true);
    expect(matchesFilter('a concatenated scatter plot, catalogued', ['cat'])).toBe(false);
    expect(matchesFilter('a café in Paris', ['cafe'])).toBe(true);
    expect(matchesFilter('a cafeteria', ['café'])).toBe(false);
    expect(matchesFilter('blue\n  cat at night', ['blue cat'])).toBe(true);
    expect(matchesFilter('blue cats', ['blue cat'])).toBe(false);
    expect(matchesFilter('anything', [])).toBe(false);
  });

  it('GIVEN scripts with their own letters THEN boundaries still hold (Cyrillic, Devanagari, Hangul)', () => {
    expect(matchesFilter('Большой кот спит', ['КОТ'])).toBe(true);
    expect(matchesFilter('котёнок', ['кот'])).toBe(false);
    expect(matchesFilter('एक बिल्ली सो रही है', ['बिल्ली'])).toBe(true);
    // A Devanagari vowel sign is a mark that belongs to the word: "बिल्लियाँ" is another word.
    expect(matchesFilter('बिल्लियाँ', ['बिल्ली'])).toBe(false);
    expect(matchesFilter('고양이 한 마리', ['고양이'])).toBe(true);
  });

  it('GIVEN Chinese, Japanese or Thai, which put no spaces between words THEN an entry matches inside a run', () => {
    expect(matchesFilter('一只猫在跳舞', ['猫'])).toBe(true);
    expect(matchesFilter('かわいいネコがいる', ['ネコ'])).toBe(true);
    expect(matchesFilter('แมวสีดำ', ['แมว'])).toBe(true);
    // A Latin entry beside Chinese text: the neighbour is no Latin letter, so it is a whole word.
    expect(matchesFilter('我喜欢cat视频', ['cat'])).toBe(true);
    // The dakuten of が is part of the kana, not an accent: が and か stay apart.
    expect(matchesFilter('がっこう', ['かっこう'])).toBe(false);
  });

  it('GIVEN entries typed with ASCII, full-width or enumeration commas THEN each is one entry', () => {
    expect(parseEntries(' cat, big  dog ，猫、 , ')).toEqual(['cat', 'big dog', '猫']);
  });

  it('GIVEN additions THEN duplicates by folded form are skipped, and a long entry or an overflow refuses all', () => {
    expect(addEntries(['Café'], 'CAFE, dog, dog')).toEqual({
      ok: true,
      entries: ['Café', 'dog'],
      changed: 1,
      unchanged: 2,
    });
    const long = 'é'.repeat(FILTER_ENTRY_MAX + 1);
    expect(addEntries([], `ok, ${long}`)).toEqual({ ok: false, reason: 'too_long', entry: long, length: 61 });
    expect(addEntries([], 'é'.repeat(FILTER_ENTRY_MAX))).toMatchObject({ ok: true, changed: 1 });
    const full = Array.from({ length: FILTER_MAX_ENTRIES }, (_, i) => `w${i}`);
    expect(addEntries(full, 'one more')).toEqual({ ok: false, reason: 'full', count: FILTER_MAX_ENTRIES + 1 });
    expect(addEntries(full, 'w1')).toMatchObject({ ok: true, changed: 0 });
    expect(addEntries([], ' , ')).toEqual({ ok: false, reason: 'empty' });
  });

  it('GIVEN removals THEN they compare folded and count what was not there', () => {
    expect(removeEntries(['Café', 'dog'], 'CAFE, bird')).toEqual({
      ok: true,
      entries: ['dog'],
      changed: 1,
      unchanged: 1,
    });
  });
});

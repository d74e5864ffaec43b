import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../../../src/lib/format.js';
import {
  renderFailure,
  renderMention,
  renderResult,
  renderStatus,
  shownPrompt,
} from '../../../../src/services/delivery/views.js';
import { makeJob } from '../../../helpers/jobs.js';

describe('shownPrompt (DESIGN §1.10)', () => {
  it('GIVEN markdown a member could abuse THEN masked links, headings, lists and emphasis are escaped', () => {
    expect(shownPrompt('[Claim your Nitro](https://evil.example)', 100)).toBe(
      '\\[Claim your Nitro](https://evil.example)',
    );
    expect(shownPrompt('# Big\n- item\n1. first', 100)).toBe('\\# Big\n\\- item\n1\\. first');
    expect(shownPrompt('**bold** ||spoiler|| `code`', 100)).toBe('\\*\\*bold\\*\\* \\|\\|spoiler\\|\\| \\`code\\`');
  });

  it('GIVEN a prompt that escaping makes longer THEN it still fits the limit', () => {
    const shown = shownPrompt('*'.repeat(2000), 4000);
    expect(shown.length).toBeLessThanOrEqual(4000);
    expect(shown.startsWith('\\*\\*')).toBe(true);
  });
});

describe('renderers', () => {
  it('GIVEN a generating job THEN the status names model and aspect and counts up from the start', () => {
    const job = makeJob({ state: 'generating', submittedAt: 1_700_000_000_000 });
    const view = renderStatus(job);
    expect(view.content).toContain('veo3_fast');
    expect(view.content).toContain('16:9');
    expect(view.content).toContain('<t:1700000000:R>');
    expect(view.embeds[0]?.description).toBe(job.options.prompt);
    expect(view.allowedMentions).toEqual({ parse: [] });
  });

  it('GIVEN a queued job with a position THEN the status carries the position', () => {
    const job = makeJob({ state: 'queued' });
    expect(renderStatus(job, { position: 4 }).content).toContain('position 4');
  });

  it('GIVEN a finished job THEN the result has 1080P, 4K, Rerun, Extend, Details in one row, the link in a second, and the units left', () => {
    const job = makeJob({ state: 'delivering', resultUrls: ['https://files.example/v.mp4'] });
    const view = renderResult(job, {
      attached: true,
      limitBytes: 10 * 1024 * 1024,
      unitsLeft: { remaining: 3, limit: 5 },
    });
    expect(view.components).toHaveLength(2);
    const buttons = view.components[0]?.components ?? [];
    expect(buttons).toHaveLength(5);
    expect(buttons[0]).toMatchObject({ custom_id: `veo:hd:${job.id}`, label: '1080P' });
    expect(buttons[1]).toMatchObject({ custom_id: `veo:4k:${job.id}`, label: '4K' });
    expect(buttons[2]).toMatchObject({ custom_id: `veo:rerun:${job.id}`, label: 'Rerun' });
    expect(buttons[3]).toMatchObject({ custom_id: `veo:extend:${job.id}`, label: 'Extend' });
    expect(buttons[4]).toMatchObject({ custom_id: `veo:details:${job.id}`, label: 'Details' });
    expect(view.components[1]?.components).toEqual([
      { type: 2, style: 5, label: 'Open video', url: 'https://files.example/v.mp4' },
    ]);
    expect(view.embeds[0]?.footer?.text).toBe('3 of 5 units left');
    expect(view.content).not.toContain('https://');
  });

  it('GIVEN a video over the upload limit THEN the result says so and links to it', () => {
    const job = makeJob({ state: 'delivering', resultUrls: ['https://files.example/v.mp4'] });
    const view = renderResult(job, { attached: false, limitBytes: 8 * 1024 * 1024 });
    expect(view.content).toContain('8 MiB');
    expect(view.content).toContain('https://files.example/v.mp4');
  });

  it("GIVEN a content-policy failure THEN kie's policy text and the refund are shown", () => {
    const job = makeJob({
      state: 'failed',
      refunded: true,
      units: 1,
      failure: { reason: 'content_policy', policyText: 'flagged for violence' },
    });
    const view = renderFailure(job);
    expect(view.content).toContain('flagged for violence');
    expect(view.content).toContain('1 unit(s) returned to you');
  });

  it('GIVEN an unknown outcome THEN the failure apologises', () => {
    const view = renderFailure(
      makeJob({ state: 'failed_unknown', refunded: true, failure: { reason: 'unknown_outcome', policyText: null } }),
    );
    expect(view.content).toMatch(/Sorry/);
  });

  it('GIVEN a mention THEN only the requester may be pinged', () => {
    const job = makeJob({ requesterId: '555555555555555555' });
    const view = renderMention(job, 'https://discord.com/channels/1/2/3');
    expect(view.content).toContain('<@555555555555555555>');
    expect(view.allowedMentions).toEqual({ users: ['555555555555555555'] });
  });

  it('formats byte limits for people', () => {
    expect(formatBytes(10 * 1024 * 1024)).toBe('10 MiB');
    expect(formatBytes(1.5 * 1024 * 1024)).toBe('1.5 MiB');
    expect(formatBytes(2048)).toBe('2 KiB');
  });
});

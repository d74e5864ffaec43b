import { describe, expect, it } from 'vitest';
import {
  ANIMATE_RERUN_MAX_AGE_MS,
  EXTEND_MAX_AGE_MS,
  extendModal,
  extendRefusal,
  rerunRefusal,
} from '../../../../src/commands/veo/buttons.js';
import { formatDuration, renderStatus } from '../../../../src/services/delivery/views.js';
import { renderDetails, renderJobList } from '../../../../src/commands/veo/views.js';
import { durationKind, RecentDurations } from '../../../../src/services/jobs/durations.js';
import { makeJob } from '../../../helpers/jobs.js';

const NOW = 1_700_000_000_000;
const HOUR = 60 * 60_000;

describe('status embed', () => {
  it('GIVEN a generating job with recent durations THEN the embed has prompt, model, aspect, seed, start and ETA', () => {
    const job = makeJob({
      state: 'generating',
      submittedAt: NOW,
      options: { prompt: 'a fox', model: 'veo3', aspectRatio: '9:16', seed: 12345, imageUrls: [] },
    });
    const embed = renderStatus(job, { expectedMs: 120_000 }).embeds[0];
    expect(embed?.description).toBe('a fox');
    const fields = Object.fromEntries((embed?.fields ?? []).map((f) => [f.name, f.value]));
    expect(fields).toMatchObject({ Model: 'veo3', Aspect: '9:16', Seed: '12345', Started: `<t:${NOW / 1000}:R>` });
    expect(fields.Expected).toBe(`<t:${(NOW + 120_000) / 1000}:R> (recent ones took about 2 min)`);
  });

  it('GIVEN no recent durations THEN no ETA is shown at all', () => {
    const job = makeJob({ state: 'generating', submittedAt: NOW });
    const names = (renderStatus(job, { expectedMs: null }).embeds[0]?.fields ?? []).map((f) => f.name);
    expect(names).not.toContain('Expected');
    expect(renderStatus(job).content).not.toMatch(/usually|expected/i);
  });

  it('GIVEN a queued job held by our limiter THEN the embed shows its queue position', () => {
    const fields = renderStatus(makeJob({ state: 'queued' }), { position: 3 }).embeds[0]?.fields ?? [];
    expect(fields).toContainEqual({ name: 'Queue position', value: '3', inline: true });
  });

  it('GIVEN a very long prompt THEN the embed carries it trimmed', () => {
    const job = makeJob({
      options: { prompt: 'x'.repeat(1900), model: 'veo3_fast', aspectRatio: '16:9', seed: null, imageUrls: [] },
    });
    const description = renderStatus(job).embeds[0]?.description ?? '';
    expect(description.length).toBeLessThanOrEqual(1000);
    expect(description.endsWith('…')).toBe(true);
  });

  it('GIVEN an extend job THEN the status says it is extending', () => {
    const job = makeJob({
      state: 'generating',
      submittedAt: NOW,
      options: {
        prompt: 'then it jumps',
        model: 'veo3_fast',
        aspectRatio: '16:9',
        seed: null,
        imageUrls: [],
        extend: { jobId: 'a', taskId: 't', taskCreatedAt: NOW },
      },
    });
    expect(renderStatus(job).content).toContain('Extending the video with veo3_fast');
  });

  it('formats durations in the member language', () => {
    expect(formatDuration('en-US', 45_000)).toBe('45 s');
    expect(formatDuration('en-US', 200_000)).toBe('3 min');
    expect(formatDuration('zh-CN', 200_000)).toBe('3 分钟');
  });
});

describe('recent durations', () => {
  it('GIVEN samples THEN the median is of the window, per kind; none: null', () => {
    const d = new RecentDurations(3);
    expect(d.median('veo3_fast')).toBeNull();
    d.record('veo3_fast', 10);
    d.record('veo3_fast', 30);
    expect(d.median('veo3_fast')).toBe(20);
    d.record('veo3_fast', 20);
    d.record('veo3_fast', 1000); // the 10 leaves the window of 3
    expect(d.median('veo3_fast')).toBe(30);
    expect(d.median('veo3')).toBeNull();
    expect(durationKind(makeJob())).toBe('veo3_fast');
  });
});

describe('result action rules', () => {
  const animate = (createdAt: number) =>
    makeJob({
      createdAt,
      options: { prompt: 'p', model: 'veo3_fast', aspectRatio: 'Auto', seed: null, imageUrls: ['https://up/x.png'] },
    });

  it('GIVEN an animate job older than 20 hours THEN rerun is refused because the uploaded picture is gone', () => {
    expect(rerunRefusal(animate(NOW), NOW + ANIMATE_RERUN_MAX_AGE_MS - 1)).toBeNull();
    expect(rerunRefusal(animate(NOW), NOW + ANIMATE_RERUN_MAX_AGE_MS + 1)).toBe('action.rerun_images_gone');
    expect(rerunRefusal(makeJob({ createdAt: NOW }), NOW + 10 * 24 * HOUR)).toBeNull();
  });

  it('GIVEN extend rules THEN unfinished, older than 14 days and 1080P-upgraded videos are refused', () => {
    const done = makeJob({ state: 'delivered', taskId: 'task', submittedAt: NOW });
    expect(extendRefusal(done, NOW + HOUR)).toBeNull();
    expect(extendRefusal(makeJob({ state: 'generating', taskId: 'task' }), NOW)).toBe('action.extend_not_ready');
    expect(extendRefusal(done, NOW + EXTEND_MAX_AGE_MS + 1)).toBe('action.extend_too_old');
    const hd = {
      ...done,
      hd: {
        state: 'ready' as const,
        interactionId: 'i',
        token: null,
        at: NOW,
        replyMessageId: null,
        channelId: 'c',
        requesterId: 'u',
        attachmentSizeLimit: null,
        ephemeral: false,
        url: 'https://x',
      },
    };
    expect(extendRefusal(hd, NOW + HOUR)).toBe('action.extend_hd');
    expect(extendRefusal({ ...hd, hd: { ...hd.hd, state: 'failed' } }, NOW + HOUR)).toBeNull();
  });

  it('GIVEN the extend modal THEN its custom_id is typed and its text input allows 2000 characters', () => {
    const modal = extendModal('abc123', 'zh-CN');
    expect(modal.custom_id).toBe('veo:extendm:abc123');
    expect(modal.title.length).toBeLessThanOrEqual(45);
    expect(JSON.stringify(modal.components)).toContain('"max_length":2000');
  });
});

describe('details and /veo jobs', () => {
  it('GIVEN a delivered job THEN details show prompt, model, seed, task id and times in the asker language', () => {
    const job = makeJob({ state: 'delivered', taskId: 'abcdef', submittedAt: NOW + 1000, finishedAt: NOW + 81_000 });
    const embed = renderDetails(job, 'zh-CN').embeds[0];
    const text = JSON.stringify(embed);
    expect(embed?.description).toBe(job.options.prompt);
    expect(text).toContain('`abcdef`');
    expect(text).toContain('veo3_fast');
    expect(text).toContain('由视频服务选择');
    expect(text).toContain(`<t:${NOW / 1000}:f>`);
    expect(text).toContain('80 秒');
  });

  it('GIVEN jobs THEN the list shows state, age and links, and says when a file expired', () => {
    const a = makeJob({ state: 'delivered', createdAt: NOW });
    const b = makeJob({ state: 'undeliverable', createdAt: NOW - HOUR });
    const view = renderJobList('en-US', [
      { job: a, messageUrl: 'https://discord.com/channels/1/2/3', videoUrl: 'https://kie/v.mp4', videoExpired: false },
      { job: b, messageUrl: null, videoUrl: null, videoExpired: true },
    ]);
    const description = view.embeds[0]?.description ?? '';
    const [first, second] = description.split('\n');
    expect(first).toContain('**Delivered**');
    expect(first).toContain(`<t:${NOW / 1000}:R>`);
    expect(first).toContain('[message](https://discord.com/channels/1/2/3)');
    expect(first).toContain('[video](https://kie/v.mp4)');
    expect(second).toContain('**Made, not delivered**');
    expect(second).toContain('file expired');
    expect(renderJobList('zh-CN', []).content).toContain('/veo视频 文生视频');
  });
});

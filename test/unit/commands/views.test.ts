import { describe, expect, it } from 'vitest';
import { refusalFor } from '../../../src/commands/veo/accept.js';
import { renderQuota } from '../../../src/commands/veo/views.js';
import { renderBudget, renderLimits, renderStatusReport } from '../../../src/commands/veoAdmin/views.js';
import { t } from '../../../src/i18n/index.js';
import { resolveLimits, type QuotaDefaults } from '../../../src/services/quota/limits.js';
import type { QuotaStatus } from '../../../src/services/quota/service.js';

const defaults: QuotaDefaults = {
  limit: 5,
  windowHours: 24,
  costs: { veo3: 4, veo3_fast: 1, veo3_lite: 1 },
  maxActiveJobs: 2,
};
const T = 1_700_000_000_000;
const status: QuotaStatus = {
  limit: 5,
  used: 3,
  held: 0,
  running: 1,
  remaining: 2,
  nextUnitAt: T,
  activeJobs: 1,
  windowHours: 24,
  maxActiveJobs: 2,
  blocked: false,
  daily: null,
};

describe('/veo quota view', () => {
  it('GIVEN used units THEN "X of Y units left · next unit back <t:…:R>", held units and active jobs', () => {
    const text = renderQuota('en-US', status, resolveLimits(defaults, {}), null);
    expect(text.split('\n')).toEqual([
      '**2 of 5 units left** · next unit back <t:1700000000:R>',
      '1 units held by running jobs · 1 of 2 active jobs',
      'Units come back 24 h after use. Cost per video: veo3 4 · veo3_fast 1 · veo3_lite 1.',
    ]);
  });

  it('GIVEN a full allowance, a budget, a dear model and a block THEN each is said', () => {
    const text = renderQuota(
      'en-US',
      { ...status, used: 0, held: 0, running: 0, remaining: 3, limit: 3, nextUnitAt: null, blocked: true },
      resolveLimits(defaults, { limit: 3, budget: 10 }),
      { used: 4, held: 0, running: 0, budget: 10, remaining: 6, nextUnitAt: T },
    );
    expect(text).toContain('**3 of 3 units left**');
    expect(text).not.toContain('next unit back');
    expect(text).toContain('veo3 4 (not available here)');
    expect(text).toContain('Server budget: 6 of 10 units left');
    expect(text).toContain(t('en-US', 'refusal.blocked'));
  });
});

describe('quota refusals', () => {
  const base = {
    ok: false as const,
    retryAt: null,
    remaining: 2,
    limit: 5,
    cost: 4,
    available: ['veo3_fast' as const],
    maxActiveJobs: 3,
  };

  it('GIVEN each reason THEN the message says when (or whether) to try again', () => {
    const say = (r: Parameters<typeof refusalFor>[0]) => {
      const e = refusalFor(r, 'veo3');
      return t('en-US', e.key, e.params);
    };
    expect(say({ ...base, reason: 'quota', retryAt: T })).toBe(
      'You have 2 of your 5 units left and veo3 costs 4. Enough units come back <t:1700000000:R>.',
    );
    expect(say({ ...base, reason: 'budget', retryAt: T })).toContain('Enough frees up <t:1700000000:R>.');
    expect(say({ ...base, reason: 'active_jobs' })).toContain(
      'You already have 3 videos in progress here. Try again when one of them finishes.',
    );
    expect(say({ ...base, reason: 'blocked' })).toContain('blocked you');
    expect(say({ ...base, reason: 'model_unavailable' })).toBe(
      'The veo3 model costs 4 units, more than this server allows, so it is not available here. Pick veo3_fast.',
    );
    expect(say({ ...base, reason: 'model_unavailable', available: [] })).toContain('No model is cheap enough');
  });
});

describe('/veo-admin views', () => {
  it('GIVEN some overrides THEN limits mark what is set here and what is default, and what cannot run', () => {
    const settings = { limit: 3, costs: { veo3_fast: 2 } };
    const text = renderLimits('en-US', settings, resolveLimits(defaults, settings));
    expect(text).toContain('Allowance per member: 3 units (set here)');
    expect(text).toContain('Window: 24 h, rolling (default)');
    expect(text).toContain('Cost of veo3_fast: 2 units (set here)');
    expect(text).toContain('Cost of veo3: 4 units (default)');
    expect(text).toContain('Videos in progress per member: 2 (default)');
    expect(text).toContain('Not available here (costs more than the allowance or the budget): veo3.');
  });

  it('GIVEN no budget or a budget THEN the budget view says so', () => {
    expect(
      renderBudget('en-US', { used: 3, held: 0, running: 0, budget: null, remaining: null, nextUnitAt: null }),
    ).toContain('This server has no budget');
    const text = renderBudget('en-US', { used: 3, held: 1, running: 1, budget: 10, remaining: 7, nextUnitAt: T });
    expect(text).toContain('Server budget: 10 units per rolling 24 h. 3 used, 7 left.');
    expect(text).toContain('The next unit comes back <t:1700000000:R>.');
  });

  it('GIVEN status facts for an operator THEN balance, circuit, the bot’s spend, jobs and the day are listed', () => {
    const usage = { used: 6, held: 0, running: 2, budget: null, remaining: null, nextUnitAt: null };
    const spend = { used: 310, held: 60, budget: 1000, nextFreeAt: T };
    const operator = { balance: { credits: 412.5, at: T }, spend };
    const text = renderStatusReport('en-US', { circuit: 'paused_credits', running: 2, usage, operator });
    expect(text).toContain('kie.ai credits: 412.5 (read <t:1700000000:R>)');
    expect(text).toContain('paused, out of credits');
    expect(text).toContain(
      'kie credits the bot spent in the last 24 h, across all servers: 310 of its daily budget of 1000; the oldest frees up <t:1700000000:R>.',
    );
    expect(text).toContain('Videos in progress in this server: 2');
    expect(text).toContain('Units used in this server in the last 24 h: 6 (2 held by running jobs)');
    const unread = renderStatusReport('en-US', {
      circuit: 'closed',
      running: 0,
      usage,
      operator: { balance: null, spend: { ...spend, budget: null } },
    });
    expect(unread).toContain('could not be read');
    expect(unread).toContain('310 (no DAILY_CREDIT_BUDGET is set)');
  });

  it('GIVEN status facts for an admin who is no operator THEN only whether videos are accepted, never the money', () => {
    const usage = { used: 6, held: 0, running: 2, budget: null, remaining: null, nextUnitAt: null };
    const paused = renderStatusReport('en-US', { circuit: 'paused_credits', running: 2, usage, operator: null });
    expect(paused).toContain('Video service: paused; new videos are refused until it is back.');
    expect(paused).not.toMatch(/credit/i);
    const open = renderStatusReport('zh-CN', { circuit: 'closed', running: 2, usage, operator: null });
    expect(open).toContain('视频服务：正在接受新视频。');
    expect(open).not.toContain('积分');
  });
});

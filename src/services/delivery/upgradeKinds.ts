/** The two upgrade kinds (DESIGN §5): what kie is asked for each, and how each one's charge follows kie. */
import type { HdResult } from '../kie/types.js';
import type { QuotaScope } from '../quota/ledger.js';
import { HD_MAX_WAIT_MS, UHD_MAX_WAIT_MS, type UpgradeKind, type UpgradeSpend } from './hd.js';

const nothing = (): Promise<void> => Promise.resolve();

/** 1080P (DESIGN §5): no units; the bot's credits stand once kie took the call, and come back when it refused. */
export function hdUpgrade(
  kie: { get1080p(taskId: string, index?: number): Promise<HdResult> },
  pollIntervalMs: number,
  credits?: { settle(spendId: string): Promise<void>; refund(spendId: string): Promise<boolean> },
): UpgradeKind {
  return {
    name: '1080p',
    request: (taskId) => kie.get1080p(taskId, 0),
    pollIntervalMs,
    maxWaitMs: HD_MAX_WAIT_MS,
    ...(credits && {
      charge: {
        accepted: (spend) => credits.settle(spend.id),
        refused: async (spend) => {
          await credits.refund(spend.id);
        },
        abandoned: nothing,
        delivered: nothing,
      },
    }),
  };
}

/**
 * 4K (DESIGN §5): the click held QUOTA_COST_4K units and KIE_CREDITS_4K credits under one spend id; they are
 * spent once kie takes the call, and given back whenever the member ends up without the video.
 */
export function uhdUpgrade(
  kie: { get4k(taskId: string, index: number, callBackUrl?: string): Promise<HdResult> },
  pollIntervalMs: number,
  quota: {
    commit(scope: QuotaScope, id: string): Promise<void>;
    refund(scope: QuotaScope, id: string): Promise<boolean>;
    release(scope: QuotaScope, id: string): Promise<void>;
  },
  callbackUrl: ((jobId: string) => string) | undefined,
): UpgradeKind {
  const refund = async (spend: UpgradeSpend): Promise<void> => {
    await quota.refund(spend.scope, spend.id);
  };
  return {
    name: '4k',
    request: (taskId, job) => kie.get4k(taskId, 0, callbackUrl?.(job.id)),
    pollIntervalMs,
    maxWaitMs: UHD_MAX_WAIT_MS,
    charge: {
      accepted: (spend) => quota.commit(spend.scope, spend.id),
      refused: refund,
      abandoned: refund,
      delivered: (spend) => quota.release(spend.scope, spend.id),
    },
  };
}

import { describe, expect, it } from 'vitest';
import { spendLookupOf } from '../../../src/events/ready.js';
import type { HdState, JobRecord } from '../../../src/services/jobs/record.js';
import { hdSpendId } from '../../../src/services/quota/credits.js';
import { makeJob } from '../../helpers/jobs.js';

const CLICK = '343434343434343434';

function withHd(state: HdState['state'], interactionId = CLICK): JobRecord {
  return makeJob({
    id: `job-${state}`,
    state: 'delivered',
    hd: {
      state,
      interactionId,
      token: null,
      at: 0,
      replyMessageId: null,
      channelId: '1',
      requesterId: '2',
      attachmentSizeLimit: null,
      ephemeral: false,
      url: null,
    },
  });
}

describe('what became of a credit spend after a restart', () => {
  const records = new Map(
    [withHd('preparing'), withHd('ready'), withHd('failed'), withHd('ready', '999999999999999999')].map(
      (j, i) => [i === 3 ? 'job-replaced' : j.id, j] as const,
    ),
  );
  const lookup = spendLookupOf({ get: async (id) => records.get(id) }, async (id) =>
    id === 'plain' ? 'delivered' : 'missing',
  );

  it('GIVEN a job’s own spend THEN its job’s fate', async () => {
    expect(await lookup('plain')).toBe('delivered');
  });

  it('GIVEN a 1080P click THEN preparing is still running, ready stands, failed or replaced or gone comes back', async () => {
    expect(await lookup(hdSpendId('job-preparing', CLICK))).toBe('active');
    expect(await lookup(hdSpendId('job-ready', CLICK))).toBe('delivered');
    expect(await lookup(hdSpendId('job-failed', CLICK))).toBe('failed');
    expect(await lookup(hdSpendId('job-replaced', CLICK))).toBe('failed');
    expect(await lookup(hdSpendId('job-gone', CLICK))).toBe('missing');
  });
});

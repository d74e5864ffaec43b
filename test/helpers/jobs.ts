import { newJobRecord, type JobRecord } from '../../src/services/jobs/record.js';

let counter = 0;

/** A complete job record with sensible values; tests override what they care about. */
export function makeJob(overrides: Partial<JobRecord> = {}): JobRecord {
  counter += 1;
  const now = 1_700_000_000_000;
  const accepted = newJobRecord(
    {
      id: `job${String(counter).padStart(13, '0')}`,
      requesterId: '111111111111111111',
      guildId: '222222222222222222',
      channelId: '333333333333333333',
      locale: 'en-US',
      private: false,
      interaction: {
        id: '444444444444444444',
        token: 'interaction-token',
        createdAt: now,
        attachmentSizeLimit: 10 * 1024 * 1024,
      },
      options: {
        prompt: 'a red fox running through snow',
        model: 'veo3_fast',
        aspectRatio: '16:9',
        seed: null,
        imageUrls: [],
      },
      units: 1,
    },
    now,
  );
  return { ...accepted, messageId: '666666666666666666', ...overrides };
}

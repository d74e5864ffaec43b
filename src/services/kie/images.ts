import { DownloadError, type DownloadResult } from '../../lib/download.js';
import { sniffImageType, type ImageType } from '../../lib/mediaType.js';
import type { Logger } from '../../logger.js';
import type { ImageFailureReason } from '../jobs/record.js';
import { MediaRefusedError } from '../runtime/fetchGuard.js';
import type { ImageRole, UploadRequest, UploadResult } from './types.js';

const IMAGE_TYPES: ReadonlySet<string> = new Set<ImageType>(['image/jpeg', 'image/png', 'image/webp']);
const EXTENSIONS: Readonly<Record<ImageType, string>> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
};

/** An attachment's declared `content_type`, if it is one we accept (parameters such as `; charset` ignored). */
export function declaredImageType(contentType: string | null | undefined): ImageType | null {
  const bare = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  return IMAGE_TYPES.has(bare) ? (bare as ImageType) : null;
}

export type PrepareResult =
  { readonly ok: true; readonly urls: readonly string[] } | { readonly ok: false; readonly reason: ImageFailureReason };

export interface ImagePreparerDeps {
  /** KieClient.uploadFile: it already retries once, which is the one retry issue 3 asks for. */
  readonly upload: (request: UploadRequest) => Promise<UploadResult>;
  /** Through the media fetch guard: it refuses URLs it must not fetch and bytes that are not an image. */
  readonly download: (url: string, capBytes: number) => Promise<DownloadResult>;
  readonly maxImageBytes: number;
  readonly logger: Logger;
}

type Checked =
  | { readonly ok: true; readonly data: Buffer; readonly type: ImageType }
  | { readonly ok: false; readonly reason: ImageFailureReason };

/**
 * Re-hosts `/veo animate` and `/veo reference` pictures on kie (DESIGN §6): Discord attachment URLs are signed and expire, and
 * kie must be able to fetch what it is given. Never throws: every failure is a reason the job can show.
 */
export class ImagePreparer {
  constructor(private readonly deps: ImagePreparerDeps) {}

  /** Returns kie's download URLs in the order given (first frame then last frame, or references in turn). */
  async prepare(jobId: string, sourceUrls: readonly string[], role: ImageRole = 'frames'): Promise<PrepareResult> {
    // Every picture is checked before any is uploaded, so a bad end image costs no upload of the first.
    const checked: Array<Extract<Checked, { ok: true }>> = [];
    for (const [index, url] of sourceUrls.entries()) {
      const result = await this.#fetch(jobId, index, url);
      if (!result.ok) return result;
      checked.push(result);
    }
    const urls: string[] = [];
    for (const [index, image] of checked.entries()) {
      const stem = role === 'reference' ? `reference${index + 1}` : index === 0 ? 'first' : 'last';
      const fileName = `${stem}.${EXTENSIONS[image.type]}`;
      try {
        const { downloadUrl } = await this.deps.upload({
          data: image.data,
          fileName,
          mimeType: image.type,
          uploadPath: `veo-bot/${jobId}`,
        });
        urls.push(downloadUrl);
      } catch (error) {
        this.deps.logger.warn({ jobId, index, bytes: image.data.length, err: error }, 'image upload to kie failed');
        return { ok: false, reason: 'image_upload' };
      }
    }
    this.deps.logger.info({ jobId, images: urls.length }, 'images re-hosted on kie');
    return { ok: true, urls };
  }

  /** Downloads one picture into a single capped buffer, retrying a transient failure once. */
  async #fetch(jobId: string, index: number, url: string): Promise<Checked> {
    let downloaded: DownloadResult | undefined;
    for (let attempt = 1; downloaded === undefined; attempt++) {
      try {
        downloaded = await this.deps.download(url, this.deps.maxImageBytes);
      } catch (error) {
        if (error instanceof MediaRefusedError) {
          this.deps.logger.warn({ jobId, index, reason: error.reason, host: error.host }, 'image URL refused');
          return { ok: false, reason: error.reason === 'not_media' ? 'not_an_image' : 'image_refused' };
        }
        const transient = !(error instanceof DownloadError) || error.transient;
        if (transient && attempt < 2) continue;
        // The URL is signed: it is never logged.
        this.deps.logger.warn({ jobId, index, attempt, err: error }, 'image download failed');
        return { ok: false, reason: 'image_download' };
      }
    }
    if (downloaded.kind === 'too_large') {
      this.deps.logger.warn({ jobId, index, capBytes: this.deps.maxImageBytes }, 'image larger than MAX_IMAGE_BYTES');
      return { ok: false, reason: 'image_too_large' };
    }
    const type = sniffImageType(downloaded.data);
    if (!type) {
      this.deps.logger.warn(
        { jobId, index, bytes: downloaded.data.length },
        'attachment is not a JPEG, PNG or WebP image',
      );
      return { ok: false, reason: 'not_an_image' };
    }
    return { ok: true, data: downloaded.data, type };
  }
}

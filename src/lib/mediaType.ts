/** What a file's first bytes say it is: a declared type is only the sender's claim. */

export type ImageType = 'image/jpeg' | 'image/png' | 'image/webp';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

/** Enough bytes for every check below. */
export const SNIFF_BYTES = 12;

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

export function sniffImageType(bytes: Uint8Array): ImageType | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'image/png';
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

/** An MP4 (ISO base media file) starts with its `ftyp` box: a 32-bit size of at least 8, then "ftyp". */
export function isMp4(bytes: Uint8Array): boolean {
  if (bytes.length < 8 || ascii(bytes, 4, 8) !== 'ftyp') return false;
  const size = ((bytes[0] ?? 0) << 24) | ((bytes[1] ?? 0) << 16) | ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  // 1 means a 64-bit size follows; 0 "to the end of the file" is not valid for ftyp.
  return size === 1 || size >>> 0 >= 8;
}

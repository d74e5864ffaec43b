/** Discord's CDN for tests that attach files: serves them under signed-looking URLs on 127.0.0.1. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Stands in for the signature Discord puts on CDN URLs; it must never reach a log line. */
export const SIGNATURE = 'hm=5ec12e7d0ddc0ffee';

interface ServedFile {
  readonly bytes: Buffer;
  readonly contentType: string;
}

/** Plays Discord's CDN: serves the files the test attaches, under signed-looking URLs. */
export class FakeCdn {
  readonly files = new Map<string, ServedFile>();
  private constructor(
    private readonly server: Server,
    readonly origin: string,
  ) {}

  static async start(): Promise<FakeCdn> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const cdn = new FakeCdn(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => {
      const file = cdn.files.get(new URL(req.url ?? '/', cdn.origin).pathname);
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': file.contentType, 'content-length': file.bytes.length }).end(file.bytes);
    });
    return cdn;
  }

  serve(name: string, bytes: Buffer, contentType: string): string {
    const path = `/attachments/1300000000000000000/${name}`;
    this.files.set(path, { bytes, contentType });
    return `${this.origin}${path}?ex=68a1b2c3&${SIGNATURE}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface AttachmentInput {
  readonly name: string;
  readonly bytes: Buffer;
  readonly contentType: string;
  /** What the payload declares; the real length by default. */
  readonly size?: number;
  /** Where the payload says the file is; the fake CDN by default. */
  readonly url?: string;
}

let nextAttachmentId = 1300000000000001001n;

/** One attachment option of a slash command: the payload's resolved attachment and the option naming it. */
export function attachmentOption(
  cdn: FakeCdn,
  option: string,
  input: AttachmentInput,
): {
  attachment: { id: string; filename: string; size: number; contentType: string; url: string };
  option: { name: string; type: number; value: string };
} {
  const id = String(nextAttachmentId++);
  return {
    attachment: {
      id,
      filename: input.name,
      size: input.size ?? input.bytes.length,
      contentType: input.contentType,
      url: input.url ?? cdn.serve(input.name, input.bytes, input.contentType),
    },
    option: { name: option, type: 11, value: id },
  };
}

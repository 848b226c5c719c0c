/**
 * Self-validating payloads for the torture suite: a fixed-width JSON header
 * line naming the writer, a sequence number, the body's length and its
 * SHA-256, then the body. A torn, truncated, empty or mixed file fails
 * {@linkcode checkPayload}.
 */
import { createHash } from "node:crypto";

/** Every payload starts with a header of exactly this many bytes. */
export const HEADER_BYTES = 160;
const BLOCK_BYTES = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a valid payload says about itself. */
export interface PayloadInfo {
  tag: string;
  seq: number;
  size: number;
  sha256: string;
}

/** SHA-256 of `bytes`, as hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A pseudo-random generator (xorshift32), so payloads differ without using `crypto`. */
export function prng(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/** A size between `min` and `max` bytes, evenly spread on a log scale. */
export function logSize(
  random: () => number,
  min: number,
  max: number,
): number {
  return Math.round(Math.exp(Math.log(min) + random() * Math.log(max / min)));
}

/** A payload of exactly `size` bytes (at least `HEADER_BYTES + 1`). */
export function makePayload(
  tag: string,
  seq: number,
  size: number,
): Uint8Array {
  const bodyBytes = size - HEADER_BYTES;
  if (bodyBytes < 1) throw new RangeError(`payload size ${size} is too small`);
  const random = prng(seq + tag.length * 7919);
  const block = new Uint8Array(BLOCK_BYTES);
  for (let i = 0; i < BLOCK_BYTES; i++) {
    block[i] = 97 + Math.floor(random() * 26);
  }
  const bytes = new Uint8Array(size);
  const body = bytes.subarray(HEADER_BYTES);
  for (let offset = 0; offset < bodyBytes; offset += BLOCK_BYTES) {
    body.set(
      block.subarray(0, Math.min(BLOCK_BYTES, bodyBytes - offset)),
      offset,
    );
  }
  const header = JSON.stringify({ tag, seq, size, sha256: sha256(body) });
  if (header.length >= HEADER_BYTES) {
    throw new RangeError(`tag "${tag}" is too long`);
  }
  bytes.set(encoder.encode(header.padEnd(HEADER_BYTES - 1, " ") + "\n"));
  return bytes;
}

/** The payload's description if `bytes` is one complete payload, or why it is not. */
export function checkPayload(
  bytes: Uint8Array,
): { ok: true; info: PayloadInfo } | { ok: false; reason: string } {
  if (bytes.length === 0) return { ok: false, reason: "empty" };
  if (bytes.length <= HEADER_BYTES) {
    return { ok: false, reason: `only ${bytes.length} bytes` };
  }
  let info: PayloadInfo;
  try {
    info = JSON.parse(decoder.decode(bytes.subarray(0, HEADER_BYTES)));
  } catch {
    return { ok: false, reason: "header is not JSON (torn or foreign)" };
  }
  if (info.size !== bytes.length) {
    return {
      ok: false,
      reason:
        `${bytes.length} bytes, header says ${info.size} (seq ${info.seq})`,
    };
  }
  if (sha256(bytes.subarray(HEADER_BYTES)) !== info.sha256) {
    return { ok: false, reason: `body hash mismatch (seq ${info.seq})` };
  }
  return { ok: true, info };
}

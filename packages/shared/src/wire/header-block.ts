import type { WireHeaders } from './invoke.js';

const HEAD = 'NATS/1.0\r\n';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * NATS message headers written straight into their wire form ("NATS/1.0\r\nname: value\r\n...").
 * nats.js's own `headers()` object, per `set`, lists and filters every key twice, canonicalises
 * the name, tests the value with a regex and keeps arrays in a Map, and renders it all again on
 * publish: per call, on the hot path. nats.js's `publish` only calls `encode()` on the headers
 * it is given, so this block can stand in for them there. Names are set once each (no
 * replacement), as the invoke codec does.
 */
export class HeaderBlock implements WireHeaders {
  private text = HEAD;
  private encoded: Uint8Array | undefined;

  /**
   * A block as it came over the wire (the direct link's frames), read back without a copy of the
   * bytes: `get` answers from it, `encode` returns the same bytes. Undefined when the bytes are not
   * a header block.
   */
  static parse(wire: Uint8Array): HeaderBlock | undefined {
    const text = decoder.decode(wire);
    if (!text.startsWith(HEAD) || !text.endsWith('\r\n\r\n')) return undefined;
    const block = new HeaderBlock();
    block.text = text.slice(0, -2);
    block.encoded = wire;
    return block;
  }

  set(name: string, value: string): void {
    // A CR or LF would end the header early and let the rest pass as headers of its own.
    if (value.includes('\r') || value.includes('\n'))
      throw new Error(`header ${name}: a value cannot hold a line break`);
    this.text += `${name}: ${value}\r\n`;
    this.encoded = undefined;
  }

  /** The value of a header set here, or "" (as nats.js's `get`). */
  get(name: string): string {
    const start = this.text.indexOf(`\r\n${name}: `);
    if (start < 0) return '';
    const from = start + name.length + 4;
    return this.text.slice(from, this.text.indexOf('\r\n', from));
  }

  /** The wire form; a resend of the same call reuses it. */
  encode(): Uint8Array {
    this.encoded ??= encoder.encode(`${this.text}\r\n`);
    return this.encoded;
  }
}

// Requests as bytes on the wire, and the bytes that make them hostile. A `fetch` cannot send what
// matters here (a NUL in a header, invalid UTF-8 in the path, two Authorization headers in a
// chosen order), so requests are written to a TCP socket as they are and the answer read back.

import fc from "fast-check";

const encoder = new TextEncoder();

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One HTTP/1.1 request; the target (path and query) and header values are raw bytes. */
export interface WireRequest {
  method: string;
  target: Uint8Array;
  headers: [string, Uint8Array][];
  body: Uint8Array;
}

export function encode(r: WireRequest): Uint8Array {
  const head: Uint8Array[] = [utf8(`${r.method} `), r.target, utf8(" HTTP/1.1\r\nHost: fuzz\r\n")];
  for (const [name, value] of r.headers) head.push(utf8(`${name}: `), value, utf8("\r\n"));
  head.push(utf8(`Content-Length: ${r.body.length}\r\nConnection: close\r\n\r\n`));
  return concat(...head, r.body);
}

export interface WireResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Sends the bytes and reads the answer until the server closes the connection (10 s at most). */
export async function send(port: number, bytes: Uint8Array): Promise<WireResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 10_000);
  const chunks: Uint8Array[] = [];
  try {
    // A server may answer (and close) before reading all of an oversized body.
    await writeAll(conn, bytes).catch(() => {});
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
  const text = new TextDecoder().decode(concat(...chunks));
  const end = text.indexOf("\r\n\r\n");
  const [statusLine, ...lines] = text.slice(0, end < 0 ? text.length : end).split("\r\n");
  const status = Number(statusLine.split(" ")[1] ?? NaN);
  const headers = new Map(lines.map((l) => {
    const i = l.indexOf(":");
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as [string, string];
  }));
  return { status, headers, body: end < 0 ? "" : text.slice(end + 4) };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

/** `%XX` for every byte that is not unreserved: any bytes become a valid URL segment or value. */
export function percentEncode(bytes: Uint8Array): Uint8Array {
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return utf8(out);
}

// ------------------------------------------------------------------------ hostile material

/** Characters that break naive code: NUL, C0 controls, DEL, lone surrogates, astral, RTL. */
export const hostileChar: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("\u0000", "\u0001", "\u001b", "\u007f", "\u0085", "\u2028", "\ufeff", "\ufffd"),
  fc.constantFrom("\ud83d", "\ude00", "\udbff", "\ud800"), // lone surrogates
  fc.constantFrom("\ud83d\ude00", "\u202e", "ä", "%", "%00", "%ff", "\\", '"', "'", "<", "."),
  fc.integer({ min: 0, max: 0x1f }).map((n) => String.fromCharCode(n)),
);

/** Text mixing ordinary and hostile characters, now and then long. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(fc.oneof(hostileChar, fc.string({ maxLength: 8 })), { maxLength: 12 }).map((
      p,
    ) => p.join("")),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(hostileChar, fc.integer({ min: 200, max: 3000 })).map(([c, n]) =>
      c + "x".repeat(n)
    ),
  },
);

/** Byte sequences that are not UTF-8: lone continuations, overlong forms, CESU surrogates, F5-FF. */
export const invalidUtf8: fc.Arbitrary<Uint8Array> = fc.constantFrom(
  [0x80],
  [0xbf, 0x80],
  [0xc0, 0x80], // overlong NUL
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf], // overlong '/'
  [0xed, 0xa0, 0xbd], // a high surrogate encoded on its own
  [0xed, 0xb8, 0x80],
  [0xe2, 0x82], // cut short
  [0xf0, 0x9f, 0x98], // an emoji cut short
  [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
  [0xf5],
  [0xfe],
  [0xff, 0xfe],
).map((b) => new Uint8Array(b));

/** Header value bytes a server takes: tab, visible ASCII and obs-text (0x80-0xFF), up to 3000. */
export const headerValueBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) =>
    b.map((x) => (x < 0x20 || x === 0x7f ? (x % 2 ? 0x09 : 0x21 + x) : x))
  ),
  fc.tuple(invalidUtf8, fc.integer({ min: 1, max: 3000 })).map(([b, n]) =>
    concat(b, utf8("y".repeat(n)))
  ),
);

/** A byte that no HTTP/1.1 parser may take in a request line or header value. */
export const forbiddenByte: fc.Arbitrary<number> = fc.constantFrom(
  0x00,
  0x01,
  0x07,
  0x08,
  0x0b,
  0x0c,
  0x1b,
  0x1f,
  0x7f,
);

/** Arbitrary bytes salted with invalid UTF-8 and NULs. */
export const hostileBytes: fc.Arbitrary<Uint8Array> = fc.array(
  fc.oneof(invalidUtf8, fc.uint8Array({ maxLength: 16 }), hostileText.map(utf8)),
  { maxLength: 6 },
).map((parts) => concat(...parts));

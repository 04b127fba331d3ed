import { crc32, deflateSync } from 'node:zlib';

export type Rgb = readonly [number, number, number];

// A 3×5 bitmap font: enough for chart labels without a font library. Rows top to bottom.
const GLYPHS: Record<string, string> = {
  a: '111001111101111',
  b: '100100111101111',
  c: '000111100100111',
  d: '001001111101111',
  e: '111101111100111',
  f: '011010111010010',
  g: '111101111001111',
  h: '100100111101101',
  i: '010000010010010',
  j: '001000001101111',
  k: '100101110101101',
  l: '010010010010011',
  m: '000111111101101',
  n: '000110101101101',
  o: '000111101101111',
  p: '111101111100100',
  q: '111101111001001',
  r: '000111100100100',
  s: '011100010001110',
  t: '010111010010011',
  u: '000101101101111',
  v: '000101101101010',
  w: '000101111111111',
  x: '000101010101101',
  y: '101101111001111',
  z: '111001010100111',
  '0': '111101101101111',
  '1': '010110010010111',
  '2': '111001111100111',
  '3': '111001111001111',
  '4': '101101111001001',
  '5': '111100111001111',
  '6': '111100111101111',
  '7': '111001001001001',
  '8': '111101111101111',
  '9': '111101111001111',
  '.': '000000000000010',
  '/': '001001010100100',
  '-': '000000111000000',
  ':': '000010000010000',
  '(': '010100100100010',
  ')': '010001001001010',
  ' ': '000000000000000',
  '%': '101001010100101',
  '=': '000111000111000',
  ',': '000000000010100',
};

/** An RGB raster with just the drawing a line chart needs, and a PNG encoder. */
export class Canvas {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(background, i * 3);
  }

  set(x: number, y: number, c: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    this.data.set(c, (yi * this.width + xi) * 3);
  }

  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1): void {
    const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      for (let dx = 0; dx < thick; dx++) for (let dy = 0; dy < thick; dy++) this.set(x + dx, y + dy, c);
    }
  }

  text(x: number, y: number, s: string, c: Rgb, scale = 2): void {
    let cx = x;
    for (const ch of s.toLowerCase()) {
      const g = GLYPHS[ch] ?? GLYPHS[' '] ?? '';
      for (let row = 0; row < 5; row++) {
        for (let col = 0; col < 3; col++) {
          if (g[row * 3 + col] !== '1') continue;
          for (let dx = 0; dx < scale; dx++)
            for (let dy = 0; dy < scale; dy++) this.set(cx + col * scale + dx, y + row * scale + dy, c);
        }
      }
      cx += 4 * scale;
    }
  }

  png(): Buffer {
    const raw = Buffer.alloc((this.width * 3 + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * (this.width * 3 + 1)] = 0; // filter: none
      raw.set(this.data.subarray(y * this.width * 3, (y + 1) * this.width * 3), y * (this.width * 3 + 1) + 1);
    }
    const chunk = (type: string, body: Buffer) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(typed) >>> 0);
      return Buffer.concat([len, typed, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.width, 0);
    ihdr.writeUInt32BE(this.height, 4);
    ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}

export interface Series {
  label: string;
  color: Rgb;
  points: [number, number][];
}

/** One line-chart panel: axes with ticks, the series, a legend. */
export function panel(
  cv: Canvas,
  box: { x: number; y: number; w: number; h: number },
  title: string,
  xMax: number,
  series: Series[],
): void {
  const grey: Rgb = [200, 200, 200];
  const black: Rgb = [0, 0, 0];
  const yMaxRaw = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const step = niceStep(yMaxRaw / 5);
  const yMax = Math.ceil(yMaxRaw / step) * step;
  const px = (x: number) => box.x + (x / xMax) * box.w;
  const py = (y: number) => box.y + box.h - (y / yMax) * box.h;
  for (let y = 0; y <= yMax + 1e-9; y += step) {
    cv.line(box.x, py(y), box.x + box.w, py(y), grey);
    cv.text(box.x - 8 - 8 * fmt(y).length, py(y) - 5, fmt(y), black);
  }
  const xStep = niceStep(xMax / 10);
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    cv.line(px(x), box.y + box.h, px(x), box.y + box.h + 5, black);
    cv.text(px(x) - 4 * fmt(x).length, box.y + box.h + 10, fmt(x), black);
  }
  cv.line(box.x, box.y, box.x, box.y + box.h, black);
  cv.line(box.x, box.y + box.h, box.x + box.w, box.y + box.h, black);
  cv.text(box.x, box.y - 22, title, black);
  const lx = box.x + box.w - 8 * Math.max(...series.map((s) => s.label.length)) - 30;
  let ly = box.y + 6;
  for (const s of series) {
    for (let i = 1; i < s.points.length; i++) {
      const a = s.points[i - 1] as [number, number];
      const b = s.points[i] as [number, number];
      cv.line(px(a[0]), py(a[1]), px(b[0]), py(b[1]), s.color, 2);
    }
    cv.line(lx, ly + 5, lx + 16, ly + 5, s.color, 3);
    cv.text(lx + 22, ly, s.label, black);
    ly += 16;
  }
}

function niceStep(raw: number): number {
  const mag = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

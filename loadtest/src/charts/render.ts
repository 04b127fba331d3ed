import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile } from 'vega-lite';
import { CHART_FONT, type ChartSpec } from './spec.js';

/** Debian's fonts-dejavu-core: the only fonts the PNGs are drawn with (see CHART_FONT). */
export const FONT_FILES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
];
/** PNGs at twice the SVG's size: sharp on high-density screens, as READMEs are read. */
export const PNG_SCALE = 2;

export class ChartFontMissingError extends Error {
  constructor(readonly file: string) {
    super(`chart font ${file} is missing: install Debian's fonts-dejavu-core (npm run setup)`);
    this.name = 'ChartFontMissingError';
  }
}

/** vega-lite's compile, its warnings and errors collected rather than printed (a test requires none). */
export function compileChart(spec: ChartSpec): {
  vega: ReturnType<typeof compile>['spec'];
  warnings: string[];
} {
  const warnings: string[] = [];
  const logger = {
    level(): number {
      return 0;
    },
    // Collected too: a benchmark run must not lose its chart to a message vega-lite could draw past.
    error(...args: readonly unknown[]) {
      warnings.push(`error: ${args.map(String).join(' ')}`);
      return logger;
    },
    warn(...args: readonly unknown[]) {
      warnings.push(args.map(String).join(' '));
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return { vega: compile(spec, { logger }).spec, warnings };
}

/** The chart as an SVG document, laid out by a headless vega View (no canvas, no browser). */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  // vega tags the data rows it is given (a symbol id): a copy keeps the caller's results untouched.
  const view = new View(parse(compileChart(structuredClone(spec)).vega), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The SVG drawn to a PNG by resvg with the chart font only, not the host's other fonts. */
export function renderPng(svg: string): Buffer {
  for (const file of FONT_FILES) if (!existsSync(file)) throw new ChartFontMissingError(file);
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: PNG_SCALE },
    font: { loadSystemFonts: false, fontFiles: FONT_FILES, defaultFontFamily: CHART_FONT },
  });
  return resvg.render().asPng();
}

/** Writes <dir>/<name>.svg and <dir>/<name>.png; returns their paths. */
export async function writeChart(dir: string, name: string, spec: ChartSpec): Promise<string[]> {
  const svg = await renderSvg(spec);
  const png = renderPng(svg);
  await mkdir(dir, { recursive: true });
  const paths = [join(dir, `${name}.svg`), join(dir, `${name}.png`)];
  await writeFile(paths[0] as string, svg);
  await writeFile(paths[1] as string, png);
  return paths;
}

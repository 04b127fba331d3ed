/**
 * systemd's EnvironmentFile= format, as far as thaw's example files use it: `KEY=value` lines,
 * `#` or `;` comments, a value in single or double quotes taken without them. Anything else
 * (line continuations, escapes, `export`) is refused rather than guessed at, so an example file
 * cannot hold a line systemd would read differently from this test.
 */
export interface EnvFile {
  /** The variables systemd sets. */
  set: Record<string, string>;
  /** The examples left off: comment lines of the form `#KEY=value` (no space after the `#`). */
  examples: Record<string, string>;
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

function value(raw: string, where: string): string {
  const v = raw.trim();
  const quote = v[0];
  if (quote === '"' || quote === "'") {
    if (v.length < 2 || v[v.length - 1] !== quote || v.slice(1, -1).includes(quote)) {
      throw new Error(`${where}: unbalanced quotes`);
    }
    return v.slice(1, -1);
  }
  if (v.includes('\\')) throw new Error(`${where}: backslashes are escapes to systemd; avoid them`);
  return v;
}

export function parseEnvFile(text: string, name = 'env file'): EnvFile {
  const set: Record<string, string> = {};
  const examples: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    const where = `${name}:${i + 1}`;
    const trimmed = line.trim();
    if (trimmed === '') return;
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) {
      const example = ASSIGNMENT.exec(trimmed.slice(1));
      if (example) examples[example[1]!] = value(example[2]!, where);
      return;
    }
    const m = ASSIGNMENT.exec(trimmed);
    if (!m) throw new Error(`${where}: not KEY=value: ${line}`);
    if (Object.hasOwn(set, m[1]!)) throw new Error(`${where}: ${m[1]} set twice`);
    set[m[1]!] = value(m[2]!, where);
  });
  return { set, examples };
}

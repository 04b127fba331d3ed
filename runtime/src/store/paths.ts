import { UnsafeLayerEntryError } from './errors.js';

/**
 * Normalises an archive entry name to path components relative to the root. "./" prefixes and
 * trailing slashes are fine; absolute names and ".." components are refused rather than
 * silently re-rooted, so a crafted archive fails loudly.
 */
export function entryComponents(name: string): string[] {
  if (name.startsWith('/')) throw new UnsafeLayerEntryError(`archive entry "${name}" has an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new UnsafeLayerEntryError(`archive entry "${name}" contains ".."`);
  if (parts.some((p) => p.includes('\0')))
    throw new UnsafeLayerEntryError(`archive entry "${name}" contains NUL`);
  return parts;
}

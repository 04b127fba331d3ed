/**
 * Run after the whole test suite (`npm test` does): fails when any test or benchmark left
 * containers, mounts, namespaces, bridges, cgroups, firewall chains, folders or servers behind.
 */
import { findTestResidue } from './host-residue.js';

const residue = findTestResidue();
if (residue.length > 0) {
  console.error(
    `host check: the test suite left ${residue.length} things behind:\n  ${residue.join('\n  ')}`,
  );
  process.exit(1);
}
console.log('host check: nothing of the test suite is left on the host');

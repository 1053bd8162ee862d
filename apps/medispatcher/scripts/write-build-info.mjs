// Writes dist/build-info.json (commit and build time) for `medispatcher --version`.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
} catch {
  // Not a git checkout (a packed tarball): keep "unknown".
}
writeFileSync(
  new URL('../dist/build-info.json', import.meta.url),
  `${JSON.stringify({ commit, builtAt: new Date().toISOString() })}\n`,
);

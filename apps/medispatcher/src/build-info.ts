import { readFileSync } from 'node:fs';

/** Version line of `--version`: package version, commit and build time (from dist/build-info.json, written by the build). */
export function versionText(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  let info: { commit?: string; builtAt?: string } = {};
  try {
    info = JSON.parse(readFileSync(new URL('./build-info.json', import.meta.url), 'utf8')) as typeof info;
  } catch {
    // Running from source (tsx): no build info.
  }
  return `medispatcher ${pkg.version} (commit ${info.commit ?? 'unknown'}, built ${info.builtAt ?? 'unknown'}, node ${process.version}, drop-in for medispatcher 2.5.1)\n`;
}

import type * as Library from '../src/index.js';

/**
 * The built package (`dist`, what users run; the bench scripts build it first), not the sources through
 * tsx. Typed by the sources, so typechecking needs no build.
 */
export async function loadBuiltPackage(): Promise<typeof Library> {
  const built = new URL('../dist/index.js', import.meta.url);
  return (await import(built.href).catch((err: unknown) => {
    throw new Error(`${built.pathname} cannot be loaded: run \`pnpm build\` first (${String(err)})`);
  })) as typeof Library;
}

// Number formatting for tables and charts.

export function formatRate(rate: number | undefined): string {
  if (rate === undefined) return '–';
  return `${rate.toFixed(rate < 10 ? 1 : 0)}/s`;
}

export function formatCount(n: number | undefined): string {
  return n === undefined ? '–' : n.toLocaleString('en');
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '–';
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${UNITS[unit]}`;
}

export function formatUptime(ms: number | undefined): string {
  if (ms === undefined) return '–';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

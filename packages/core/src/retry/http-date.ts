/**
 * Parses an HTTP-date (RFC 9110 §5.6.7) into epoch milliseconds, or `undefined` when it is not one.
 *
 * Accepts the preferred IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and, because RFC 9110 requires
 * recipients to, the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
 * (`Sun Nov  6 08:49:37 1994`) forms. Names are matched case-insensitively (as RFC 9111 §4.2 allows
 * caches to) because the value is only a hint and a mis-cased date is still unambiguous. The weekday is
 * checked for spelling but not against the date, since senders get it wrong and nothing depends on it.
 *
 * @param value - the date text, already trimmed
 * @param now - epoch milliseconds; RFC 850's two-digit year is resolved relative to it
 */
export function parseHttpDate(value: string, now: number): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match) return toEpochMs(Number(match[3]), match[2]!, Number(match[1]), match[4]!, match[5]!, match[6]!);
  match = RFC850_DATE.exec(value);
  if (match) {
    const year = resolveTwoDigitYear(Number(match[3]), now);
    return toEpochMs(year, match[2]!, Number(match[1]), match[4]!, match[5]!, match[6]!);
  }
  match = ASCTIME_DATE.exec(value);
  if (match) return toEpochMs(Number(match[6]), match[1]!, Number(match[2]), match[3]!, match[4]!, match[5]!);
  return undefined;
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const DAY_LONG = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
const RFC850_DATE = new RegExp(`^${DAY_LONG}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`, 'i');
// asctime pads a one-digit day with a space: "Nov  6".
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`, 'i');

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

// RFC 9110: a two-digit year more than 50 years in the future means the most recent past year with those
// digits, so the result lands in (nowYear - 50, nowYear + 50].
function resolveTwoDigitYear(twoDigits: number, now: number): number {
  const nowYear = new Date(now).getUTCFullYear();
  let year = nowYear - (nowYear % 100) + twoDigits;
  if (year > nowYear + 50) year -= 100;
  else if (year <= nowYear - 50) year += 100;
  return year;
}

function toEpochMs(
  year: number,
  monthName: string,
  day: number,
  hours: string,
  minutes: string,
  seconds: string,
): number | undefined {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  const h = Number(hours);
  const m = Number(minutes);
  const s = Number(seconds);
  // Second 60 is the leap second the grammar allows; Date rolls it into the next minute.
  if (day < 1 || day > daysInMonth(year, month) || h > 23 || m > 59 || s > 60) return undefined;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(h, m, s, 0);
  return date.getTime();
}

function daysInMonth(year: number, month: number): number {
  if (month === 1) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 3 || month === 5 || month === 8 || month === 10 ? 30 : 31;
}

/** How the console writes dates, times and counts: one place, the same everywhere. */
const dateTime = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
const dateOnly = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric' });

export const formatDateTime = (iso: string) => dateTime.format(new Date(iso));
export const formatDate = (iso: string) => dateOnly.format(new Date(iso));

/** A UTC day (`YYYY-MM-DD`, as the usage answer names days): "Dec 3". */
const utcDay = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
export const formatDay = (day: string) => utcDay.format(new Date(`${day}T00:00:00Z`));

/** A count as people read it: 1,204. */
export const formatCount = (count: number) => count.toLocaleString('en-US');

export const plural = (count: number, one: string, many = `${one}s`) => `${formatCount(count)} ${count === 1 ? one : many}`;

/** "2 hours ago", "just now": how long since a moment, roughly. */
export function ago(iso: string): string {
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${plural(minutes, 'minute')} ago`;
  const hours = Math.round(seconds / 3600);
  if (hours < 36) return `${plural(hours, 'hour')} ago`;
  return `${plural(Math.round(seconds / 86400), 'day')} ago`;
}

/** "in 3 hours", "in 2 days": how long until a moment, roughly. */
export function fromNow(iso: string): string {
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (seconds <= 0) return 'now';
  if (seconds < 90) return plural(seconds, 'second');
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return plural(minutes, 'minute');
  const hours = Math.round(seconds / 3600);
  if (hours < 36) return plural(hours, 'hour');
  return plural(Math.round(seconds / 86400), 'day');
}

/** A window of seconds in words: 60 -> "minute", 3600 -> "hour", 90 -> "90 seconds". */
export function perWindow(seconds: number): string {
  if (seconds === 1) return 'second';
  if (seconds === 60) return 'minute';
  if (seconds === 3600) return 'hour';
  if (seconds === 86400) return 'day';
  return `${seconds} seconds`;
}

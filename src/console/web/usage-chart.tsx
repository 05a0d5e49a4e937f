import { useEffect, useRef, useState } from 'preact/hooks';

import type { UsageDay } from './api.js';
import { formatCount, formatDay, plural } from './format.js';
import { refusalLabel } from './labels.js';

/**
 * A key's days as a chart, drawn as plain SVG: bars of requests (accepted
 * at the bottom, refused ones stacked on top by reason) and a line of leads
 * created. Plain SVG rather than a charting library: one chart of thirty
 * bars is about a hundred lines, needs no script or style the console's
 * Content-Security-Policy would refuse, and stays a single accessible image
 * (`role="img"` with a summary as its name), with every number also in the
 * table below it.
 */

const ACCEPTED = '#0b63ce';
const LEADS = '#05603a';
/** Refusals in the order they stack, each with a colour far enough from the others and from white. */
const REASON_COLORS: [string, string][] = [
  ['rotated_out', '#e04f16'],
  ['expired', '#b42318'],
  ['revoked', '#7a271a'],
  ['deleted', '#4a1d12'],
  ['insufficient_scope', '#c11574'],
  ['location_not_allowed', '#0e7090'],
  ['location_required', '#155b75'],
  ['rate_limited', '#6941c6'],
  ['unknown', '#475467'],
  ['invalid', '#344054'],
  ['wrong_audience', '#667085'],
];
const colorOf = (reason: string) => REASON_COLORS.find(([name]) => name === reason)?.[1] ?? '#475467';
const stackOrder = (reason: string) => {
  const index = REASON_COLORS.findIndex(([name]) => name === reason);
  return index < 0 ? REASON_COLORS.length : index;
};

const HEIGHT = 220;
const MARGIN = { top: 12, right: 8, bottom: 24, left: 44 };

const refusedOf = (day: UsageDay) => Object.values(day.refused).reduce((sum, count) => sum + count, 0);

/** Each reason of the days with its total, in stacking order. */
export function reasonTotals(days: UsageDay[]): [string, number][] {
  const totals = new Map<string, number>();
  for (const day of days) for (const [reason, count] of Object.entries(day.refused)) totals.set(reason, (totals.get(reason) ?? 0) + count);
  return [...totals].sort(([a], [b]) => stackOrder(a) - stackOrder(b));
}

/** The top of the axis: the smallest of 2, 4, 6, 8, 10 times a power of ten at or above the highest value (so the middle tick is whole). */
function axisTop(value: number): number {
  if (value <= 2) return 2;
  const power = 10 ** Math.floor(Math.log10(value));
  return [2, 4, 6, 8, 10].map((step) => step * power).find((top) => top >= value) ?? 10 * power;
}

/** What the chart shows, in one sentence: its accessible name. */
function summary(keyName: string, days: UsageDay[]): string {
  const requests = days.reduce((sum, day) => sum + day.requests, 0);
  const leads = days.reduce((sum, day) => sum + day.leadsCreated, 0);
  const reasons = reasonTotals(days);
  const refused = reasons.reduce((sum, [, count]) => sum + count, 0);
  const why = reasons.map(([reason, count]) => `${formatCount(count)} ${refusalLabel(reason).toLowerCase()}`).join(', ');
  return `${keyName}, the last ${plural(days.length, 'day')}: ${plural(requests, 'request')}, ${formatCount(refused)} refused${why ? ` (${why})` : ''}, ${plural(leads, 'lead')} created.`;
}

/** The width of the chart's box, followed as it changes: the chart is drawn to it, so its text stays legible at every width. */
function useWidth(): [{ current: HTMLDivElement | null }, number] {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    if (!box.current) return;
    const observer = new ResizeObserver(([entry]) => setWidth(Math.floor(entry?.contentRect.width ?? 0)));
    observer.observe(box.current);
    return () => observer.disconnect();
  }, []);
  return [box, width];
}

/** One day's bar: accepted requests, then each reason stacked on top. */
function Bar(props: { day: UsageDay; x: number; width: number; y: (value: number) => number }) {
  const { day, x, width, y } = props;
  const parts: [string, number][] = [[ACCEPTED, day.requests - refusedOf(day)], ...reasonTotals([day]).map(([reason, count]): [string, number] => [colorOf(reason), count])];
  let below = 0;
  return (
    <g>
      {parts
        .filter(([, count]) => count > 0)
        .map(([color, count]) => {
          const top = y(below + count);
          const rect = <rect key={color} x={x} y={top} width={width} height={Math.max(1, y(below) - top)} fill={color} />;
          below += count;
          return rect;
        })}
    </g>
  );
}

/** The axes: a line and a label at 0, the middle and the top; the first, middle and last day under the bars. */
function Axes(props: { days: UsageDay[]; width: number; top: number; y: (value: number) => number; slot: number }) {
  const { days, width, top, y, slot } = props;
  const ticks = [0, top / 2, top];
  const labelled = [0, Math.floor((days.length - 1) / 2), days.length - 1].filter((index, position, all) => all.indexOf(index) === position);
  return (
    <g fill="#5b6875" font-size="12">
      {ticks.map((tick) => (
        <g key={tick}>
          <line x1={MARGIN.left} x2={width - MARGIN.right} y1={y(tick)} y2={y(tick)} stroke="#dde3e9" />
          <text x={MARGIN.left - 6} y={y(tick) + 4} text-anchor="end">
            {formatCount(tick)}
          </text>
        </g>
      ))}
      {labelled.map((index) => (
        <text key={index} x={MARGIN.left + slot * (index + 0.5)} y={HEIGHT - 6} text-anchor={index === 0 ? 'start' : index === days.length - 1 ? 'end' : 'middle'}>
          {formatDay(days[index]!.date)}
        </text>
      ))}
    </g>
  );
}

/** Leads created: a line over the bars, a dot on each day with leads. */
function LeadsLine(props: { days: UsageDay[]; slot: number; y: (value: number) => number }) {
  const points = props.days.map((day, index) => [MARGIN.left + props.slot * (index + 0.5), props.y(day.leadsCreated)] as const);
  return (
    <g>
      <polyline points={points.map(([x, y]) => `${x},${y}`).join(' ')} fill="none" stroke={LEADS} stroke-width="2" />
      {points.map(([x, y], index) => props.days[index]!.leadsCreated > 0 && <circle key={index} cx={x} cy={y} r={props.slot >= 10 ? 3 : 2} fill={LEADS} />)}
    </g>
  );
}

/** The chart itself, at the width of its box. */
function Chart(props: { keyName: string; days: UsageDay[]; width: number }) {
  const { days, width } = props;
  const top = axisTop(Math.max(0, ...days.map((day) => Math.max(day.requests, day.leadsCreated))));
  const plot = { width: width - MARGIN.left - MARGIN.right, height: HEIGHT - MARGIN.top - MARGIN.bottom };
  const slot = plot.width / days.length;
  const y = (value: number) => MARGIN.top + plot.height - (value / top) * plot.height;
  return (
    <svg role="img" aria-label={summary(props.keyName, days)} width={width} height={HEIGHT} viewBox={`0 0 ${width} ${HEIGHT}`} focusable="false">
      <Axes days={days} width={width} top={top} y={y} slot={slot} />
      {days.map((day, index) => (
        <Bar key={day.date} day={day} x={MARGIN.left + slot * index + slot * 0.15} width={Math.max(1, slot * 0.7)} y={y} />
      ))}
      <LeadsLine days={days} slot={slot} y={y} />
    </svg>
  );
}

/** A colour swatch for the legend (an SVG square: the page allows no inline style). */
function Swatch(props: { color: string; line?: boolean }) {
  return (
    <svg aria-hidden="true" width="14" height="14" viewBox="0 0 14 14" focusable="false">
      {props.line ? <circle cx="7" cy="7" r="4" fill={props.color} /> : <rect width="14" height="14" rx="2" fill={props.color} />}
    </svg>
  );
}

function Legend(props: { days: UsageDay[] }) {
  return (
    <ul class="legend" aria-label="Legend">
      <li>
        <Swatch color={LEADS} line /> Leads created
      </li>
      <li>
        <Swatch color={ACCEPTED} /> Accepted requests
      </li>
      {reasonTotals(props.days).map(([reason]) => (
        <li key={reason}>
          <Swatch color={colorOf(reason)} /> Refused: {refusalLabel(reason).toLowerCase()}
        </li>
      ))}
    </ul>
  );
}

/** Every number of the chart, day by day. */
function NumbersTable(props: { days: UsageDay[] }) {
  return (
    <details class="numbers">
      <summary>The numbers, day by day</summary>
      <table>
        <caption class="visually-hidden">Leads created, requests and refused requests per day (UTC)</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            <th scope="col">Leads created</th>
            <th scope="col">Requests</th>
            <th scope="col">Refused</th>
          </tr>
        </thead>
        <tbody>
          {props.days.map((day) => (
            <tr key={day.date}>
              <th scope="row">
                <time dateTime={day.date}>{formatDay(day.date)}</time>
              </th>
              <td>{formatCount(day.leadsCreated)}</td>
              <td>{formatCount(day.requests)}</td>
              <td>{reasonTotals([day]).map(([reason, count]) => `${formatCount(count)} ${refusalLabel(reason).toLowerCase()}`).join(', ') || 'None'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

/** A key's days: the chart (one accessible image), its legend, and its numbers in a table. */
export function UsageChart(props: { keyName: string; days: UsageDay[] }) {
  const [box, width] = useWidth();
  return (
    <figure class="usage-chart" aria-labelledby="usage-caption">
      <div class="chart-box" ref={box}>
        {width > 0 && props.days.length > 0 && <Chart keyName={props.keyName} days={props.days} width={width} />}
      </div>
      <figcaption id="usage-caption" class="muted">
        Requests per day (bars, refused ones stacked on top by reason) and leads created (line), the last {plural(props.days.length, 'day')}, in UTC.
      </figcaption>
      <Legend days={props.days} />
      <NumbersTable days={props.days} />
    </figure>
  );
}

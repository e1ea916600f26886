// chart.js: one metric's chart with uPlot (vendor/uplot, loaded on first
// use): the min..max of each bucket as a band, the average as a line, and
// the metric's warn and crit thresholds as dashed horizontal lines across
// the plot (the y scale always takes them in). Colours come from the
// page's CSS variables, so the charts follow the light or dark palette.

let loading = null;

// loadUPlot adds uPlot's script once and resolves to it.
export function loadUPlot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = 'vendor/uplot/uPlot.iife.min.js';
      s.onload = () => (window.uPlot ? resolve(window.uPlot) : reject(new Error('uPlot did not load')));
      s.onerror = () => {
        loading = null;
        s.remove();
        reject(new Error('could not load vendor/uplot/uPlot.iife.min.js'));
      };
      document.head.appendChild(s);
    });
  }
  return loading;
}

// withGaps puts a null after each bucket that is followed by a missing
// one, so that uPlot breaks the lines where the check did not run.
export function withGaps(times, cols, step) {
  const t = [];
  const out = cols.map(() => []);
  for (let i = 0; i < times.length; i++) {
    t.push(times[i]);
    cols.forEach((c, j) => out[j].push(c[i] === undefined ? null : c[i]));
    if (step > 0 && i + 1 < times.length && times[i + 1] - times[i] > step * 1.5) {
      t.push(times[i] + step);
      out.forEach((o) => o.push(null));
    }
  }
  return [t, ...out];
}

function cssVar(css, name, fallback) {
  return css.getPropertyValue(name).trim() || fallback;
}

// metricChart draws into el. s: {times, min, avg, max, step, since, until
// (unix seconds), warn, crit (numbers or undefined), width}.
export function metricChart(uPlot, el, s) {
  const css = getComputedStyle(el);
  const col = {
    fg: cssVar(css, '--muted', '#666'),
    grid: cssVar(css, '--grid', '#ddd'),
    avg: cssVar(css, '--chart-avg', '#0550ae'),
    minmax: cssVar(css, '--chart-minmax', '#8ab'),
    band: cssVar(css, '--chart-band', 'rgba(80,120,200,0.2)'),
    warning: cssVar(css, '--warning', '#9a6700'),
    critical: cssVar(css, '--critical', '#cf222e'),
  };
  const lines = [];
  if (isFinite(s.warn)) lines.push({ v: s.warn, label: 'warn ' + s.warn, color: col.warning });
  if (isFinite(s.crit)) lines.push({ v: s.crit, label: 'crit ' + s.crit, color: col.critical });

  const data = withGaps(s.times, [s.min, s.avg, s.max], s.step);
  const axis = {
    stroke: col.fg,
    grid: { stroke: col.grid, width: 1 },
    ticks: { stroke: col.grid, width: 1 },
  };
  const opts = {
    width: s.width,
    height: 220,
    scales: {
      x: { time: true, range: () => [s.since, s.until] },
      y: {
        range: (u, lo, hi) => {
          const vals = [lo, hi, ...lines.map((l) => l.v)].filter((v) => v !== null && isFinite(v));
          if (!vals.length) return [0, 1];
          return uPlot.rangeNum(Math.min(...vals), Math.max(...vals), 0.1, true);
        },
      },
    },
    series: [
      {},
      { label: 'min', stroke: col.minmax, width: 1, points: { show: false } },
      { label: 'avg', stroke: col.avg, width: 2 },
      { label: 'max', stroke: col.minmax, width: 1, points: { show: false } },
    ],
    bands: [{ series: [3, 1], fill: col.band }],
    axes: [axis, { ...axis, size: 60 }],
    legend: { live: true },
    hooks: {
      draw: [
        (u) => {
          if (!lines.length) return;
          const ctx = u.ctx;
          const dpr = window.devicePixelRatio || 1;
          const { left, top, width, height } = u.bbox;
          ctx.save();
          ctx.lineWidth = 1.5 * dpr;
          ctx.setLineDash([6 * dpr, 4 * dpr]);
          ctx.font = `${11 * dpr}px system-ui, sans-serif`;
          ctx.textAlign = 'right'; // clear of the y axis' labels
          for (const l of lines) {
            const y = Math.round(u.valToPos(l.v, 'y', true));
            if (y < top || y > top + height) continue;
            ctx.strokeStyle = l.color;
            ctx.fillStyle = l.color;
            ctx.beginPath();
            ctx.moveTo(left, y);
            ctx.lineTo(left + width, y);
            ctx.stroke();
            ctx.fillText(l.label, left + width - 4 * dpr, y - 3 * dpr);
          }
          ctx.restore();
        },
      ],
    },
  };
  return new uPlot(opts, data, el);
}

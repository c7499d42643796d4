/**
 * A small in-memory Prometheus registry: counters and histograms with labels,
 * rendered in the text exposition format. No IO; http/ serves `render()` at
 * /metrics. Label values are escaped; label sets are keyed in insertion order
 * of the declared label names so the same series is always one entry.
 */
type Labels = Record<string, string>;

interface CounterSeries {
  labels: Labels;
  value: number;
}
interface HistogramSeries {
  labels: Labels;
  buckets: number[];
  sum: number;
  count: number;
}

export interface Counter {
  inc(labels?: Labels, by?: number): void;
}
export interface Histogram {
  observe(labels: Labels, value: number): void;
}

const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class MetricsRegistry {
  private readonly counters = new Map<string, { help: string; series: Map<string, CounterSeries> }>();
  private readonly histograms = new Map<string, { help: string; bounds: number[]; series: Map<string, HistogramSeries> }>();

  counter(name: string, help: string): Counter {
    const metric = this.counters.get(name) ?? { help, series: new Map<string, CounterSeries>() };
    this.counters.set(name, metric);
    return {
      inc: (labels = {}, by = 1) => {
        const key = seriesKey(labels);
        const s = metric.series.get(key) ?? { labels, value: 0 };
        s.value += by;
        metric.series.set(key, s);
      },
    };
  }

  histogram(name: string, help: string, bounds: number[] = DEFAULT_BUCKETS): Histogram {
    const metric = this.histograms.get(name) ?? { help, bounds, series: new Map<string, HistogramSeries>() };
    this.histograms.set(name, metric);
    return {
      observe: (labels, value) => {
        const key = seriesKey(labels);
        const s = metric.series.get(key) ?? { labels, buckets: metric.bounds.map(() => 0), sum: 0, count: 0 };
        metric.bounds.forEach((b, i) => {
          if (value <= b) s.buckets[i]! += 1;
        });
        s.sum += value;
        s.count += 1;
        metric.series.set(key, s);
      },
    };
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, m] of this.counters) {
      lines.push(`# HELP ${name} ${m.help}`, `# TYPE ${name} counter`);
      for (const s of m.series.values()) lines.push(`${name}${fmtLabels(s.labels)} ${s.value}`);
    }
    for (const [name, m] of this.histograms) {
      lines.push(`# HELP ${name} ${m.help}`, `# TYPE ${name} histogram`);
      for (const s of m.series.values()) {
        for (const [i, b] of m.bounds.entries()) lines.push(`${name}_bucket${fmtLabels({ ...s.labels, le: String(b) })} ${s.buckets[i]}`);
        lines.push(`${name}_bucket${fmtLabels({ ...s.labels, le: "+Inf" })} ${s.count}`);
        lines.push(`${name}_sum${fmtLabels(s.labels)} ${s.sum}`, `${name}_count${fmtLabels(s.labels)} ${s.count}`);
      }
    }
    return `${lines.join("\n")}\n`;
  }
}

function seriesKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

function fmtLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** The control plane's metrics, declared once so names cannot drift. */
export function controlPlaneMetrics(registry = new MetricsRegistry()) {
  return {
    registry,
    httpRequests: registry.counter("rap_http_requests_total", "HTTP requests by method, route and status"),
    httpDuration: registry.histogram("rap_http_request_duration_seconds", "HTTP request latency by method and route"),
    actorTransitions: registry.counter("rap_actor_transitions_total", "Actor events by kind, event and outcome"),
    actorTransitionDuration: registry.histogram("rap_actor_transition_duration_seconds", "Actor transition latency, lock to commit"),
    timersFired: registry.counter("rap_timers_fired_total", "Durable timers delivered by kind and outcome"),
    timerLag: registry.histogram("rap_timer_lag_seconds", "Delay between a timer's due_at and its delivery", [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]),
  };
}
export type ControlPlaneMetrics = ReturnType<typeof controlPlaneMetrics>;

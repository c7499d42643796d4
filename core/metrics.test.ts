import { describe, expect, test } from "../fixtures/test.ts";
import { MetricsRegistry } from "./metrics.ts";

describe("metrics registry", () => {
  test("renders counters and histograms in Prometheus text format", () => {
    const r = new MetricsRegistry();
    const c = r.counter("x_total", "things");
    c.inc({ kind: "a" });
    c.inc({ kind: "a" }, 2);
    c.inc({ kind: 'b"q' });
    const h = r.histogram("lat_seconds", "latency", [0.1, 1]);
    h.observe({ route: "/x" }, 0.05);
    h.observe({ route: "/x" }, 0.5);
    const text = r.render();
    expect(text).toContain("# TYPE x_total counter");
    expect(text).toContain('x_total{kind="a"} 3');
    expect(text).toContain('x_total{kind="b\\"q"} 1');
    expect(text).toContain('lat_seconds_bucket{route="/x",le="0.1"} 1');
    expect(text).toContain('lat_seconds_bucket{route="/x",le="1"} 2');
    expect(text).toContain('lat_seconds_bucket{route="/x",le="+Inf"} 2');
    expect(text).toContain('lat_seconds_count{route="/x"} 2');
  });
});

import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from "prom-client";

/** One process's metrics as values (prom-client's `getMetricsAsJSON`): what a worker hands its primary. */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** A Prometheus text exposition and its content type (GET /metrics). */
export interface Scrape {
  readonly body: string;
  readonly contentType: string;
}

/**
 * Merges the snapshots of every worker of one process group into one exposition, by prom-client's
 * cluster aggregation (`AggregatorRegistry.aggregate`): each metric by its `aggregator`, summed
 * when it names none; histograms merge bucket by bucket (same labels and `le`, summed).
 */
export async function aggregateScrapes(snapshots: readonly MetricsSnapshot[]): Promise<Scrape> {
  const merged = AggregatorRegistry.aggregate([...snapshots]);
  return { body: await merged.metrics(), contentType: merged.contentType };
}

import type { Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api'

/** An instrument as the agent and the collector declare it: its OpenTelemetry name and UCUM unit. */
export interface InstrumentSpec {
  readonly name: string
  readonly unit: string
}

// One place that turns a declared instrument into an SDK one, so the agent's and the
// collector's metrics name and unit their instruments the same way.

export function counter(meter: Meter, spec: InstrumentSpec, description: string): Counter {
  return meter.createCounter(spec.name, { unit: spec.unit, description })
}

/** A histogram with its bucket boundaries (the SDK's defaults suit neither seconds nor scans). */
export function histogram(
  meter: Meter,
  spec: InstrumentSpec,
  description: string,
  boundaries: number[],
): Histogram {
  return meter.createHistogram(spec.name, {
    unit: spec.unit,
    description,
    advice: { explicitBucketBoundaries: boundaries },
  })
}

export function gauge(meter: Meter, spec: InstrumentSpec, description: string): ObservableGauge {
  return meter.createObservableGauge(spec.name, { unit: spec.unit, description })
}

using System.Diagnostics;
using HdrHistogram;

namespace Relay.LoadTests.Measure;

/// A thread-safe HdrHistogram of latencies in microseconds (1 µs to 10 min, 3 significant digits).
internal sealed class LatencyRecorder
{
    private const long HighestMicros = 600_000_000;
    private readonly LongConcurrentHistogram _histogram = new(1, HighestMicros, 3);

    /// Records the time from a Stopwatch timestamp until now.
    public void RecordSince(long startTimestamp) => RecordMicros(ElapsedMicros(startTimestamp, Stopwatch.GetTimestamp()));

    public void RecordMicros(long micros) => _histogram.RecordValue(Math.Clamp(micros, 1, HighestMicros));

    public static long ElapsedMicros(long start, long end) => (end - start) * 1_000_000 / Stopwatch.Frequency;

    public long Count => _histogram.TotalCount;

    public double Percentile(double p) => Count == 0 ? double.NaN : _histogram.GetValueAtPercentile(p);

    public double Max => Count == 0 ? double.NaN : _histogram.GetMaxValue();

    public double Mean => Count == 0 ? double.NaN : _histogram.GetMean();

    public string Describe() => Count == 0
        ? "no samples"
        : $"p50 {Format(Percentile(50))}, p99 {Format(Percentile(99))}, max {Format(Max)} (n={Count})";

    public static string Format(double micros) =>
        double.IsNaN(micros) ? "-" : micros >= 10_000 ? $"{micros / 1000:F0} ms" : micros >= 1000 ? $"{micros / 1000:F1} ms" : $"{micros:F0} µs";
}

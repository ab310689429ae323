using BenchmarkDotNet.Attributes;
using Relay.Server.Observability;
using Relay.Server.Protocol;

namespace Relay.Bench.Observability;

/// What the metrics cost the hot path, with /metrics' listener attached as in a running relay:
/// per message (its type counted, a refusal counted by prefix) and per batch (a histogram
/// sample). All should be 0 B; the meter reads the counters only when scraped.
[MemoryDiagnoser]
public class MetricsBench
{
    private RelayMetrics _metrics = null!;

    [GlobalSetup]
    public void Setup() => _metrics = new RelayMetrics();

    [GlobalCleanup]
    public void Cleanup() => _metrics.Dispose();

    [Benchmark]
    public void Message_counted_by_type() => _metrics.MessageReceived(ClientMessageType.Event);

    [Benchmark]
    public void Refusal_counted_by_prefix() => _metrics.Rejected("blocked: not in this relay's web of trust");

    [Benchmark]
    public void Write_batch_recorded_in_two_histograms()
    {
        _metrics.WriteBatchEvents.Record(500);
        _metrics.WriteBatchSeconds.Record(0.012);
    }

    [Benchmark]
    public int Scrape() => _metrics.Render().Length;
}

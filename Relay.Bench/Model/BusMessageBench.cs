using BenchmarkDotNet.Attributes;
using Relay.Storage.Model;

namespace Relay.Bench.Model;

/// An event arriving from another relay process through Redis: the full parse (every field
/// checked, the id hashed again, the JSON re-serialised) against FromStored, which reads only
/// what live matching needs and keeps the stored bytes. Both allocate the event itself.
[MemoryDiagnoser]
public class BusMessageBench
{
    [Benchmark(Baseline = true)]
    public NostrEvent? FullParse() => EventParser.TryParse(Samples.Kind1Json, out _);

    [Benchmark]
    public NostrEvent? FromStored() => EventParser.FromStored(Samples.Kind1Json);
}

using BenchmarkDotNet.Attributes;
using Relay.Storage.Model;

namespace Relay.Bench.Model;

/// NostrFilter.Matches against the sample note: an authors+kinds filter (a follow list) and a
/// `#e` filter (replies to a note), each matching and not. All should be 0 B.
[MemoryDiagnoser]
public class FilterMatchBench
{
    private static readonly string[] Follows = [.. Enumerable.Range(100, 50).Select(i => Samples.Hex(i, 32))];

    // The sample's author is last in the list: the scan looks at every entry, as the miss does.
    private readonly NostrFilter _authorsHit = new() { Authors = [.. Follows, Samples.Kind1Pubkey], Kinds = [1, 6] };
    private readonly NostrFilter _authorsMiss = new() { Authors = [.. Follows, Samples.Hex(99, 32)], Kinds = [1, 6] };
    private readonly NostrFilter _tagHit = new() { Kinds = [1, 7], Tags = [('e', [Samples.Hex(98, 32), Samples.ReplyToId])] };
    private readonly NostrFilter _tagMiss = new() { Kinds = [1, 7], Tags = [('e', [Samples.Hex(98, 32), Samples.Hex(97, 32)])] };

    [GlobalSetup]
    public void Setup()
    {
        var e = Samples.Kind1;
        if (!_authorsHit.Matches(e) || _authorsMiss.Matches(e) || !_tagHit.Matches(e) || _tagMiss.Matches(e))
            throw new InvalidOperationException("sample filters do not match as intended");
    }

    [Benchmark(Baseline = true)]
    public bool AuthorsKinds_Match() => _authorsHit.Matches(Samples.Kind1);

    [Benchmark]
    public bool AuthorsKinds_NoMatch() => _authorsMiss.Matches(Samples.Kind1);

    [Benchmark]
    public bool TagE_Match() => _tagHit.Matches(Samples.Kind1);

    [Benchmark]
    public bool TagE_NoMatch() => _tagMiss.Matches(Samples.Kind1);
}

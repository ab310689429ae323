using BenchmarkDotNet.Attributes;
using Relay.Server.HotTier;
using Relay.Storage.Model;

namespace Relay.Bench.Model;

/// The hot tier's answer to the load test's filter shapes, on 20,000 events of 200 authors held
/// in memory (issue 13: the tier does not serve REQs yet; this is where its cost starts).
[MemoryDiagnoser]
public class RecentEventsBench
{
    private RecentEvents _tier = null!;
    private NostrFilter _authorFeed = null!, _thread = null!, _global = null!, _ids = null!;
    private const long Now = 1_700_100_000;

    [GlobalSetup]
    public void Setup()
    {
        _tier = new RecentEvents(long.MaxValue);
        var signers = Enumerable.Range(0, 200).Select(i => EventSigner.FromSeed($"bench-{i}")).ToArray();
        var rng = new Random(1);
        var ids = new List<string>();
        for (var i = 0; i < 20_000; i++)
        {
            string[][] tags = ids.Count > 0 && rng.Next(3) == 0 ? [["e", ids[rng.Next(ids.Count)]], ["p", signers[rng.Next(200)].Pubkey]] : [];
            var e = signers[rng.Next(200)].SignEvent(rng.Next(4) == 0 ? 7 : 1, $"note {i}", tags, 1_700_000_000 + i * 4);
            _tier.Add(e);
            ids.Add(e.Id);
        }
        _authorFeed = new NostrFilter { Authors = [signers[7].Pubkey], Kinds = [1, 6], Limit = 50 };
        _thread = new NostrFilter { Kinds = [1], Tags = [('e', [ids[12_345]])], Limit = 100 };
        _global = new NostrFilter { Kinds = [1], Since = 1_700_000_000 + 70_000, Limit = 50 };
        _ids = new NostrFilter { Ids = [.. ids.Skip(1000).Take(50)] };
    }

    private readonly List<HeldEvent> _into = [];

    private int Query(NostrFilter f)
    {
        _into.Clear();
        _tier.Query(f, 500, Now, _into);
        return _into.Count;
    }

    [Benchmark] public int AuthorFeed() => Query(_authorFeed);
    [Benchmark] public int Thread() => Query(_thread);
    [Benchmark] public int GlobalSince() => Query(_global);
    [Benchmark] public int FiftyIds() => Query(_ids);
}

using Relay.Server.Policies;
using Relay.Storage.Model;

namespace Relay.Tests.Policies;

/// The incremental trust graph against a from-scratch breadth-first search over the same
/// contact lists: random graphs, random follows and unfollows, exact equality of who is
/// trusted at which depth after every step.
public sealed class TrustGraphTests
{
    private static Key32 K(int i) => new(0, 0, 0, (ulong)i);

    /// Contact lists as a test-owned store the graph loads from, like the events table.
    private sealed class Lists
    {
        public readonly Dictionary<Key32, (Key32[] Follows, long CreatedAt)> ByAuthor = new();
        public int Loads;

        public Task<Dictionary<Key32, (Key32[], long)>> LoadAsync(IReadOnlyCollection<Key32> pubkeys)
        {
            Loads++;
            var found = new Dictionary<Key32, (Key32[], long)>();
            foreach (var k in pubkeys) if (ByAuthor.TryGetValue(k, out var l)) found[k] = l;
            return Task.FromResult(found);
        }
    }

    /// What a full breadth-first search says: pubkey → depth.
    private static Dictionary<Key32, int> Expected(Lists lists, Key32 root, int maxDepth)
    {
        var depth = new Dictionary<Key32, int> { [root] = 0 };
        var frontier = new List<Key32> { root };
        for (var d = 0; d < maxDepth; d++)
        {
            var next = new List<Key32>();
            foreach (var k in frontier)
                if (lists.ByAuthor.TryGetValue(k, out var l))
                    foreach (var c in l.Follows)
                        if (depth.TryAdd(c, d + 1)) next.Add(c);
            frontier = next;
        }
        return depth;
    }

    private static void AssertSame(Dictionary<Key32, int> expected, TrustGraph graph, int nodes, string step)
    {
        for (var i = 0; i < nodes; i++)
        {
            var k = K(i);
            Assert.True(expected.TryGetValue(k, out var d) ? graph.DepthOf(k) == d : graph.DepthOf(k) is null,
                $"{step}: pubkey {i} expected depth {(expected.TryGetValue(k, out var e) ? e : -1)}, got {graph.DepthOf(k)?.ToString() ?? "untrusted"}");
        }
        Assert.Equal(expected.Count, graph.Count);
    }

    public static TheoryData<int, int> DepthsAndSeeds()
    {
        var data = new TheoryData<int, int>();
        for (var depth = 1; depth <= 4; depth++)
            for (var seed = 1; seed <= 8; seed++) data.Add(depth, seed * 10 + depth);
        return data;
    }

    [Theory]
    [MemberData(nameof(DepthsAndSeeds))]
    public async Task Incremental_updates_equal_a_full_recompute(int maxDepth, int seed)
    {
        var rng = new Random(seed);
        const int nodes = 60;
        var lists = new Lists();
        long time = 1;
        for (var i = 0; i < nodes; i++)
            if (rng.NextDouble() < 0.7)
                lists.ByAuthor[K(i)] = (Enumerable.Range(0, rng.Next(0, 5)).Select(_ => K(rng.Next(nodes))).Distinct().ToArray(), time++);
        var root = K(0);
        var graph = new TrustGraph(root, maxDepth, lists.LoadAsync);
        await graph.RebuildAsync();
        AssertSame(Expected(lists, root, maxDepth), graph, nodes, "rebuild");

        for (var step = 0; step < 300; step++)
        {
            // An inner pubkey publishes a new contact list: add some, drop some (often everything).
            var inner = Enumerable.Range(0, nodes).Select(K).Where(graph.IsInner).ToList();
            var author = inner[rng.Next(inner.Count)];
            var old = lists.ByAuthor.TryGetValue(author, out var l) ? l.Follows : [];
            var kept = old.Where(_ => rng.NextDouble() < 0.6);
            var added = Enumerable.Range(0, rng.Next(0, 4)).Select(_ => K(rng.Next(nodes)));
            var follows = rng.NextDouble() < 0.1 ? [] : kept.Concat(added).Distinct().ToArray();
            lists.ByAuthor[author] = (follows, time);
            Assert.True(await graph.UpdateAsync(author, follows, time++));
            AssertSame(Expected(lists, root, maxDepth), graph, nodes, $"step {step} (pubkey {author.D} now follows {string.Join(",", follows.Select(f => f.D))})");
        }
    }

    [Fact]
    public async Task Older_or_outsider_lists_are_ignored()
    {
        var lists = new Lists();
        lists.ByAuthor[K(0)] = ([K(1)], 10);
        var graph = new TrustGraph(K(0), 2, lists.LoadAsync);
        await graph.RebuildAsync();

        Assert.False(await graph.UpdateAsync(K(0), [], 5));          // older than the one held
        Assert.False(await graph.UpdateAsync(K(7), [K(8)], 20));     // not in the graph
        Assert.True(graph.IsTrusted(K(1)));
        Assert.False(graph.IsTrusted(K(8)));
    }

    [Fact]
    public async Task Unfollow_removes_only_what_that_follow_alone_vouched_for()
    {
        // admin → a, b; a → x, y; b → y. Dropping a loses x but keeps y (b still vouches for it).
        var lists = new Lists();
        var (admin, a, b, x, y) = (K(0), K(1), K(2), K(3), K(4));
        lists.ByAuthor[admin] = ([a, b], 1);
        lists.ByAuthor[a] = ([x, y], 1);
        lists.ByAuthor[b] = ([y], 1);
        var graph = new TrustGraph(admin, 2, lists.LoadAsync);
        await graph.RebuildAsync();
        Assert.Equal(5, graph.Count);
        var loads = lists.Loads;

        Assert.True(await graph.UpdateAsync(admin, [b], 2));

        Assert.False(graph.IsTrusted(a));
        Assert.False(graph.IsTrusted(x));
        Assert.True(graph.IsTrusted(y));
        Assert.Equal(loads, lists.Loads);   // an unfollow needs no database read
    }
}

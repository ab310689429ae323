using CsCheck;
using Relay.Server.Subscriptions;
using Relay.Storage.Model;

namespace Relay.Tests.Subscriptions;

/// The index must offer each live event to exactly the subscriptions a naive scan ("any filter
/// of the subscription matches") picks, once each. What was offered is read from
/// Subscription.LastOfferedSeq (set by Dispatch for each subscription it offers the event to)
/// and from Dispatch's count (subscriptions whose connection took the EVENT frame).
public sealed class SubscriptionIndexTests : IDisposable
{
    private static readonly string[] IdPool = [.. "01234".Select(c => new string(c, 64))];
    private static readonly string[] KeyPool = [.. "abcd".Select(c => new string(c, 64))];
    private static readonly int[] KindPool = [0, 1, 3, 7, 30023];
    private static readonly string[] TagValues = ["x", "y", "", "ü", IdPool[0], KeyPool[0]];
    private static readonly string[] EventTagNames = ["e", "p", "t", "E", "tt"];

    private readonly LoopbackConnection _loopback = new();

    public void Dispose() => _loopback.Dispose();

    // ---- Generators ----

    private static Gen<T> OneOf<T>(T[] pool) => Gen.Int[0, pool.Length - 1].Select(i => pool[i]);

    private static readonly Gen<string[]> EventTag = Gen.Select(OneOf(EventTagNames), OneOf(TagValues), Gen.Int[0, 5], (name, value, shape) => shape switch
    {
        0 => [name],                             // no value: selects nothing
        1 => [name, value, "wss://relay.example.com"],
        _ => new[] { name, value },
    });

    private static readonly Gen<NostrEvent> Event = Gen.Select(OneOf(IdPool), OneOf(KeyPool), OneOf(KindPool), Gen.Long[100, 110], EventTag.Array[0, 4],
        (id, pubkey, kind, at, tags) => new NostrEvent
        {
            Id = id, Pubkey = pubkey, Sig = new string('0', 128), CreatedAt = at, Kind = kind, Tags = tags,
            Raw = System.Text.Encoding.UTF8.GetBytes($"{{\"id\":\"{id}\"}}"),
        });

    /// Null three times in four; otherwise 0–3 distinct values (an empty list matches nothing).
    private static Gen<T[]?> Maybe<T>(Gen<T> value) =>
        Gen.Frequency((3, Gen.Const((T[]?)null)), (1, value.Array[0, 3].Select(a => (T[]?)a.Distinct().ToArray())));

    private static readonly Gen<long?> Bound = Gen.Frequency((3, Gen.Const((long?)null)), (1, Gen.Long[99, 111].Select(l => (long?)l)));

    private static readonly Gen<(char, string[])[]> FilterTags =
        Gen.Select(Gen.Char["eptE"], OneOf(TagValues).Array[0, 3], (name, values) => (name, values.Distinct().ToArray()))
           .Array[0, 2].Select(ts => ts.DistinctBy(t => t.name).ToArray());

    private static readonly Gen<NostrFilter> Filter = Gen.Select(
        Maybe(OneOf(IdPool)), Maybe(OneOf(KeyPool)), Maybe(OneOf([.. KindPool, 42])), FilterTags, Bound, Bound,
        (ids, authors, kinds, tags, since, until) => new NostrFilter { Ids = ids, Authors = authors, Kinds = kinds, Tags = tags, Since = since, Until = until });

    // ---- Properties ----

    [Fact]
    public void Dispatch_offers_an_event_to_exactly_the_subscriptions_with_a_matching_filter()
    {
        Gen.Select(Filter.Array[1, 3].Array[1, 10], Event.Array[1, 25], Gen.Bool.Array[10]).Sample((filterSets, events, removeHalfway) =>
        {
            var index = new SubscriptionIndex();
            var subs = filterSets.Select((fs, i) => new Subscription(_loopback.Connection, "s" + i, fs)).ToArray();
            foreach (var s in subs)
            {
                index.Add(s);
                Assert.Equal(0, s.GoLive(0));
            }
            Assert.Equal(subs.Length, index.Count);

            var removed = new bool[subs.Length];
            for (var i = 0; i < events.Length; i++)
            {
                if (i == events.Length / 2)
                    for (var j = 0; j < subs.Length; j++)
                        if (removeHalfway[j]) { index.Remove(subs[j]); removed[j] = true; }

                var e = events[i];
                var before = subs.Select(s => s.LastOfferedSeq).ToArray();
                var delivered = index.Dispatch(e);
                var offered = Enumerable.Range(0, subs.Length).Where(j => subs[j].LastOfferedSeq != before[j]).ToArray();
                var expected = Enumerable.Range(0, subs.Length).Where(j => !removed[j] && subs[j].Filters.Any(f => f.Matches(e))).ToArray();
                Assert.Equal(expected, offered);
                Assert.Equal(expected.Length, delivered);
            }
            Assert.Equal(removed.Count(r => !r), index.Count);
        }, iter: 300, print: t => Describe(t.Item1, t.Item2, t.Item3));
    }

    // ---- Examples ----

    [Fact]
    public void A_removed_subscription_is_offered_nothing()
    {
        var index = new SubscriptionIndex();
        var kept = new Subscription(_loopback.Connection, "kept", [new NostrFilter { Kinds = [1] }]);
        var gone = new Subscription(_loopback.Connection, "gone", [new NostrFilter { Kinds = [1] }, new NostrFilter { Authors = [KeyPool[0]] }, new NostrFilter()]);
        foreach (var s in new[] { kept, gone }) { index.Add(s); s.GoLive(0); }
        var e = NewEvent(IdPool[0], KeyPool[0], 1, [["t", "x"]]);

        Assert.Equal(2, index.Dispatch(e));
        index.Remove(gone);
        var seq = gone.LastOfferedSeq;

        Assert.Equal(1, index.Dispatch(e));
        Assert.Equal(seq, gone.LastOfferedSeq);
        Assert.Equal(1, index.Count);

        index.Remove(kept);
        Assert.Equal(0, index.Dispatch(e));
        Assert.Equal(0, index.Count);
    }

    [Fact]
    public void An_event_matching_several_filters_of_one_subscription_is_offered_once()
    {
        var index = new SubscriptionIndex();
        NostrFilter[] filters =
        [
            new() { Ids = [IdPool[0]] }, new() { Authors = [KeyPool[0]] }, new() { Tags = [('t', ["x", "y"])] },
            new() { Kinds = [1] }, new(),
        ];
        var a = new Subscription(_loopback.Connection, "a", filters);
        var b = new Subscription(_loopback.Connection, "b", [new NostrFilter { Tags = [('t', ["x"])] }]);
        foreach (var s in new[] { a, b }) { index.Add(s); s.GoLive(0); }

        // The event's tags hit the same index entries more than once.
        var e = NewEvent(IdPool[0], KeyPool[0], 1, [["t", "x"], ["t", "x"], ["t", "y"]]);
        Assert.Equal(2, index.Dispatch(e));
        Assert.Equal(2, index.Dispatch(e));   // a second, separate dispatch is offered again
    }

    [Fact]
    public void Only_events_committed_after_the_query_snapshot_are_sent_live_however_late_they_arrive()
    {
        var index = new SubscriptionIndex();
        var sub = new Subscription(_loopback.Connection, "s", [new NostrFilter { Kinds = [1] }]);
        index.Add(sub);
        var seenByQuery = NewEvent(IdPool[0], KeyPool[0], 1, []);
        seenByQuery.CommitSeq = 7;                  // committed before the query's snapshot (position 8)
        var committedAfter = NewEvent(IdPool[1], KeyPool[0], 1, []);
        committedAfter.CommitSeq = 9;
        var ephemeral = NewEvent(IdPool[2], KeyPool[0], 1, []);   // never stored: always live

        Assert.Equal(0, index.Dispatch(seenByQuery));   // held while the query runs, not yet sent
        Assert.Equal(0, index.Dispatch(committedAfter));
        Assert.Equal(0, index.Dispatch(ephemeral));
        Assert.Equal(2, sub.GoLive(8));

        var lateSeen = NewEvent(IdPool[3], KeyPool[0], 1, []);
        lateSeen.CommitSeq = 8;                     // the bus delivers it after EOSE: still not new
        Assert.Equal(0, index.Dispatch(lateSeen));
        var lateNew = NewEvent(IdPool[4], KeyPool[0], 1, []);
        lateNew.CommitSeq = 10;
        Assert.Equal(1, index.Dispatch(lateNew));   // live now: sent at once
    }

    [Fact]
    public void Catch_up_gives_the_events_dispatched_before_registration_that_a_lagging_query_missed_or_refuses_once_they_are_gone()
    {
        var index = new SubscriptionIndex(recentEvents: 4);
        NostrEvent Committed(int i, int kind)
        {
            var e = NewEvent(IdPool[i % IdPool.Length], KeyPool[0], kind, []);
            e.CommitSeq = 10 + i;
            return e;
        }
        for (var i = 1; i <= 4; i++) index.Dispatch(Committed(i, i % 2 == 0 ? 1 : 2));   // positions 11..14, kinds 2,1,2,1
        var sub = new Subscription(_loopback.Connection, "s", [new NostrFilter { Kinds = [1] }]);
        index.Add(sub);
        index.Dispatch(Committed(5, 1));   // after registration (offered, not caught up); 11 leaves the 4 kept

        List<NostrEvent>? missed = null;
        Assert.True(index.TryCatchUp(sub, 14, ref missed));   // the query saw everything before registration
        Assert.Null(missed);
        Assert.True(index.TryCatchUp(sub, 11, ref missed));   // it saw up to 11: kind 1 at 12 and 14 are missing
        Assert.Equal([12L, 14L], missed!.Select(e => e.CommitSeq));

        index.Dispatch(Committed(6, 2));   // with 12 gone too, a query at 11 must go to the primary
        Assert.False(index.TryCatchUp(sub, 11, ref missed));
        Assert.False(new SubscriptionIndex().TryCatchUp(sub, 11, ref missed));   // nothing kept without replicas

        // A deletion or a new version of a replaceable event in the gap: the replica's answer may
        // hold what it deletes or replaces, so the primary answers.
        var withProfile = new SubscriptionIndex(recentEvents: 4);
        withProfile.Dispatch(Committed(1, 1));
        withProfile.Dispatch(Committed(2, 0));   // kind 0 at position 12
        var later = new Subscription(_loopback.Connection, "t", [new NostrFilter { Kinds = [1] }]);
        withProfile.Add(later);
        missed = null;
        Assert.True(withProfile.TryCatchUp(later, 12, ref missed));   // saw it: nothing to catch up
        Assert.False(withProfile.TryCatchUp(later, 11, ref missed));
    }

    [Fact]
    public void Subscription_that_overflows_while_its_query_runs_leaves_the_index_and_the_connection()
    {
        var index = new SubscriptionIndex();
        var sub = new Subscription(_loopback.Connection, "flood", [new NostrFilter { Kinds = [1] }], index: index);
        Assert.True(_loopback.Connection.Subscriptions.TryAdd(sub, 10, out _));
        index.Add(sub);

        var e = NewEvent(IdPool[0], KeyPool[0], 1, []);
        for (var i = 0; i <= Subscription.MaxPending; i++) index.Dispatch(e);   // held: the query never ends

        Assert.Equal(0, index.Count);
        Assert.Equal(0, _loopback.Connection.Subscriptions.Count);
    }

    private static NostrEvent NewEvent(string id, string pubkey, int kind, string[][] tags) => new()
    {
        Id = id, Pubkey = pubkey, Sig = new string('0', 128), CreatedAt = 100, Kind = kind, Tags = tags, Raw = "{}"u8.ToArray(),
    };

    private static string Describe(NostrFilter[][] filterSets, NostrEvent[] events, bool[] removeHalfway)
    {
        static string H(string hex) => hex[..1];
        static string F(NostrFilter f) => "{" + string.Join(" ", new[]
        {
            f.Ids is { } i ? $"ids:[{string.Join(",", i.Select(H))}]" : null,
            f.Authors is { } a ? $"authors:[{string.Join(",", a.Select(H))}]" : null,
            f.Kinds is { } k ? $"kinds:[{string.Join(",", k)}]" : null,
            string.Join(" ", f.Tags.Select(t => $"#{t.Name}:[{string.Join(",", t.Values)}]")),
            f.Since is { } s ? $"since:{s}" : null,
            f.Until is { } u ? $"until:{u}" : null,
        }.Where(p => !string.IsNullOrEmpty(p))) + "}";
        var subs = filterSets.Select((fs, j) => $"s{j}{(removeHalfway[j] ? " (removed halfway)" : "")}: [{string.Join(", ", fs.Select(F))}]");
        var evs = events.Select(e => $"id {H(e.Id)} pubkey {H(e.Pubkey)} kind {e.Kind} at {e.CreatedAt} tags {System.Text.Json.JsonSerializer.Serialize(e.Tags)}");
        return "subscriptions:\n  " + string.Join("\n  ", subs) + "\nevents:\n  " + string.Join("\n  ", evs);
    }
}

using Relay.Server.HotTier;
using Relay.Storage.Model;

namespace Relay.Tests.HotTier;

/// Orders the tier sees that a single writer never produces: events from two processes arrive in
/// any order, so the tier must decide as the database did, by commit position.
public sealed class RecentEventsTests
{
    private const long T = 1_700_000_000;

    [Theory]
    [InlineData(9, false)]    // the wrap was committed before the request to vanish: removed, as the database did
    [InlineData(10, false)]   // in the same transaction: removed too
    [InlineData(11, true)]    // after it: the database keeps it, whichever the tier heard of first
    public void A_request_to_vanish_removes_the_gift_wraps_to_its_author_committed_before_it_only(long wrapCommit, bool kept)
    {
        using var author = EventSigner.Random();
        using var sender = EventSigner.Random();
        var vanish = author.SignEvent(62, "", [["relay", "ALL_RELAYS"]], T);
        vanish.CommitSeq = 10;
        var wrap = sender.SignEvent(1059, "sealed", [["p", author.Pubkey]], T - 5);
        wrap.CommitSeq = wrapCommit;
        var tier = new RecentEvents(1 << 20);
        Assert.True(tier.Add(wrap));     // this process stored the wrap ...
        tier.Add(vanish);                // ... and heard of the other process's request after it
        var answer = new List<HeldEvent>();
        Assert.Equal(RecentEvents.Answer.Complete, tier.Query(new NostrFilter { Kinds = [1059] }, 500, T, answer));
        Assert.Equal(kept ? [wrap.Id] : [], answer.Select(e => e.IdKey.ToHex()));
    }

    [Fact]
    public void An_answer_is_complete_only_when_the_horizon_proves_it()
    {
        using var author = EventSigner.Random();
        var tier = new RecentEvents(3_000);   // a few events: the horizon moves
        for (var i = 0; i < 20; i++) tier.Add(author.SignEvent(1, $"note {i}", createdAt: T + i));
        Assert.True(tier.Horizon > T, "the budget moved the horizon");
        var into = new List<HeldEvent>();
        // Fewer than asked are held at or after the horizon: older ones may be in PostgreSQL.
        Assert.Equal(RecentEvents.Answer.None, tier.Query(new NostrFilter { Authors = [author.Pubkey], Limit = 50 }, 500, T + 100, into));
        Assert.Empty(into);
        // The limit fills from memory, or since is at or after the horizon: complete.
        Assert.Equal(RecentEvents.Answer.Complete, tier.Query(new NostrFilter { Authors = [author.Pubkey], Limit = 2 }, 500, T + 100, into));
        Assert.Equal(["note 19", "note 18"], into.Select(e => System.Text.Json.JsonDocument.Parse(e.Raw).RootElement.GetProperty("content").GetString()));
        into.Clear();
        Assert.Equal(RecentEvents.Answer.Complete, tier.Query(new NostrFilter { Authors = [author.Pubkey], Since = tier.Horizon }, 500, T + 100, into));
        Assert.Equal(T + 20 - tier.Horizon, into.Count);
    }

    [Fact]
    public void An_event_that_repeats_a_tag_is_answered_once_and_removed_cleanly()
    {
        using var author = EventSigner.Random();
        using var mentioned = EventSigner.Random();
        var tier = new RecentEvents(1 << 20);
        var twice = author.SignEvent(1, "hi", [["p", mentioned.Pubkey], ["p", mentioned.Pubkey]], T);
        twice.CommitSeq = 1;
        tier.Add(twice);
        var byP = new NostrFilter { Tags = [('p', [mentioned.Pubkey])] };
        var into = new List<HeldEvent>();
        tier.Query(byP, 500, T, into);
        Assert.Equal([twice.Id], into.Select(e => e.IdKey.ToHex()));

        // Deleted, then another mention: the index for the `p` value still works.
        var deletion = author.SignEvent(5, "", [["e", twice.Id]], T + 1);
        deletion.CommitSeq = 2;
        tier.Add(deletion);
        var again = author.SignEvent(1, "again", [["p", mentioned.Pubkey]], T + 2);
        again.CommitSeq = 3;
        tier.Add(again);
        into.Clear();
        tier.Query(byP, 500, T, into);
        Assert.Equal([again.Id], into.Select(e => e.IdKey.ToHex()));
    }

    [Fact]
    public void Replies_that_share_tags_are_each_found_by_every_tag_they_carry()
    {
        // The tier holds equal tags once (a two-element tag as one array, a longer one's value as
        // one string): every event must still match all of its own tags, before and after removals.
        using var author = EventSigner.Random();
        using var mentioned = EventSigner.Random();
        var tier = new RecentEvents(1 << 20);
        var root = author.SignEvent(1, "root", createdAt: T);
        var replies = Enumerable.Range(0, 3).Select(i => author.SignEvent(1, $"reply {i}",
            [["e", root.Id, "", "reply"], ["p", mentioned.Pubkey], ["t", "nostr"], ["e", root.Id, "wss://r.example", "root"]], T + 1 + i)).ToList();
        var seq = 0L;
        foreach (var e in replies.Prepend(root)) { e.CommitSeq = ++seq; tier.Add(e); }
        string[] Ask(NostrFilter f)
        {
            var into = new List<HeldEvent>();
            Assert.Equal(RecentEvents.Answer.Complete, tier.Query(f, 500, T, into));
            return [.. into.Select(e => e.IdKey.ToHex())];
        }
        var newestFirst = replies.AsEnumerable().Reverse().Select(e => e.Id).ToArray();
        NostrFilter[] filters =
        [
            new() { Tags = [('e', [root.Id])] },
            new() { Tags = [('p', [mentioned.Pubkey])] },
            new() { Tags = [('t', ["nostr"])] },
            new() { Tags = [('e', [root.Id]), ('p', [mentioned.Pubkey]), ('t', ["nostr"])] },
            new() { Authors = [author.Pubkey], Tags = [('e', [root.Id])] },
        ];
        foreach (var f in filters) Assert.Equal(newestFirst, Ask(f));

        var deletion = author.SignEvent(5, "", [["e", replies[1].Id]], T + 10);
        deletion.CommitSeq = ++seq;
        tier.Add(deletion);
        foreach (var f in filters) Assert.Equal([replies[2].Id, replies[0].Id], Ask(f));
    }

    [Fact]
    public void Events_added_oldest_last_as_a_load_does_come_back_newest_first()
    {
        using var author = EventSigner.Random();
        var tier = new RecentEvents(1 << 24);
        var events = Enumerable.Range(0, 300).Select(i => author.SignEvent(1, $"n{i}", createdAt: T + i / 3)).ToList();
        foreach (var e in events.OrderByDescending(e => e.CreatedAt).ThenBy(e => e.Id, StringComparer.Ordinal)) tier.Add(e);
        var into = new List<HeldEvent>();
        tier.Query(new NostrFilter { Authors = [author.Pubkey] }, 500, T, into);
        Assert.Equal(events.OrderByDescending(e => e.CreatedAt).ThenBy(e => e.Id, StringComparer.Ordinal).Select(e => e.Id), into.Select(e => e.IdKey.ToHex()));
    }

    [Fact]
    public void An_answer_still_being_sent_keeps_its_bytes_while_the_tier_evicts_them()
    {
        // Answers are sent after the tier's lock is released: the events may be evicted and their
        // memory dropped meanwhile, and must still be sent as they were.
        using var author = EventSigner.Random();
        var tier = new RecentEvents(20_000, chunkBytes: 4_096);
        var first = Enumerable.Range(0, 10).Select(i => author.SignEvent(1, $"first {i}", createdAt: T + i)).ToList();
        foreach (var e in first) tier.Add(e);
        var answer = new List<HeldEvent>();
        Assert.Equal(RecentEvents.Answer.Complete, tier.Query(new NostrFilter { Authors = [author.Pubkey], Limit = 10 }, 500, T, answer));
        for (var i = 0; i < 200; i++) tier.Add(author.SignEvent(1, $"later {i}", createdAt: T + 100 + i));
        Assert.True(tier.Horizon > T + 10, "the first events were evicted");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.Equal(first.AsEnumerable().Reverse().Select(e => System.Text.Encoding.UTF8.GetString(e.Raw)),
            answer.Select(e => System.Text.Encoding.UTF8.GetString(e.Raw.Span)));
    }

    [Fact]
    public void A_profile_replaced_over_and_over_does_not_keep_old_memory()
    {
        // Each version replaces the last while the arena's chunk fills: the full chunk then holds
        // nothing, and must go.
        using var author = EventSigner.Random();
        var tier = new RecentEvents(1 << 24, chunkBytes: 4_096);
        for (var i = 0; i < 500; i++) tier.Add(author.SignEvent(0, $"{{\"name\":\"version {i}\"}}", createdAt: T + i));
        Assert.Equal(1, tier.Count);
        Assert.InRange(tier.ArenaBytes, 0, 2 * 4_096);
    }
}

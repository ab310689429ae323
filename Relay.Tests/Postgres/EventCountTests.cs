using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Tests.Postgres;

/// NIP-45 COUNT: the number of distinct stored events matching any filter, with no limit.
public sealed class EventCountTests
{
    [Fact]
    public async Task Count_has_no_limit_and_counts_an_event_once_however_many_filters_and_tags_match_it()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var alice = EventSigner.FromSeed("count-alice");
        using var bob = EventSigner.FromSeed("count-bob");
        var events = new List<NostrEvent>();
        for (var i = 0; i < 7; i++) events.Add(alice.SignEvent(1, $"note {i}", [["t", "nostr"], ["t", "relay"]], 1_700_000_000 + i));
        events.Add(bob.SignEvent(1, "other", [["t", "nostr"]], 1_700_000_100));
        await using (var writer = new EventWriter(db.DataSource)) await writer.WriteAsync(events);

        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        NostrFilter byBothTags = new() { Tags = [('t', ["nostr", "relay"])], Limit = 2 };
        NostrFilter byAuthor = new() { Authors = [alice.Pubkey], Limit = 1 };
        Assert.Equal(8, await EventQuery.CountAsync(db.DataSource, [byBothTags], now, default));
        Assert.Equal(8, await EventQuery.CountAsync(db.DataSource, [byBothTags, byAuthor], now, default));
        Assert.Equal(7, await EventQuery.CountAsync(db.DataSource, [byAuthor], now, default));
        Assert.Equal(0, await EventQuery.CountAsync(db.DataSource, [new NostrFilter { Ids = [] }], now, default));
    }
}

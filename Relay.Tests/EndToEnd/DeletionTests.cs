using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// NIP-09 deletion requests, NIP-40 expiration and NIP-62 requests to vanish, end to end.
public sealed class DeletionTests
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private static string ById(string json) => $$"""{"ids":["{{IdOf(json)}}"]}""";

    [Fact]
    public async Task Deletion_by_e_tag_removes_the_authors_event_and_a_republished_copy_is_blocked()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var note = s.Sign(1, "regret", createdAt: Now - 10);
        await client.PublishAcceptedAsync(note);

        var deletion = s.Sign(5, "", [["e", IdOf(note)]]);
        await client.PublishAcceptedAsync(deletion);

        Assert.Empty(await client.QueryIdsAsync("gone", ById(note)));
        Assert.Equal([IdOf(deletion)], await client.QueryIdsAsync("del", $$"""{"kinds":[5],"authors":["{{s.Pubkey}}"]}"""));
        var (ok, message) = await client.PublishAsync(note);
        Assert.False(ok);
        Assert.Equal("blocked: deleted by its author", message);
    }

    [Fact]
    public async Task Deletion_and_the_event_in_one_batch_take_effect_in_the_order_sent()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { WriteBatchDelay = TimeSpan.FromMilliseconds(200) });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var first = s.Sign(1, "sent before its deletion");
        var second = s.Sign(1, "sent after its deletion");

        // One batch: first, its deletion, the other deletion, second.
        foreach (var e in new[] { first, s.Sign(5, "", [["e", IdOf(first)]]), s.Sign(5, "", [["e", IdOf(second)]]), second })
            await client.SendEventAsync(e);
        var okFirst = await client.ReadUntilAsync("OK", IdOf(first));
        var okSecond = await client.ReadUntilAsync("OK", IdOf(second));

        Assert.True(okFirst[2].GetBoolean());                  // accepted, then deleted as asked
        Assert.False(okSecond[2].GetBoolean());                // its deletion came first
        Assert.Equal("blocked: deleted by its author", okSecond[3].GetString());
        Assert.Empty(await client.QueryIdsAsync("gone", $$"""{"ids":["{{IdOf(first)}}","{{IdOf(second)}}"]}"""));
        Assert.False((await client.PublishAsync(first)).Accepted);
    }

    [Fact]
    public async Task Deletion_by_another_author_leaves_the_event_alone()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var author = EventSigner.Random();
        using var stranger = EventSigner.Random();
        var note = author.Sign(1, "mine");
        await client.PublishAcceptedAsync(note, stranger.Sign(5, "", [["e", IdOf(note)]]));

        Assert.Equal([IdOf(note)], await client.QueryIdsAsync("kept", ById(note)));
    }

    [Fact]
    public async Task Deletion_by_a_tag_removes_versions_up_to_its_created_at_only()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var t0 = Now - 100;
        var article = s.Sign(30023, "v1", [["d", "post"]], t0);
        var other = s.Sign(30023, "other", [["d", "other-post"]], t0);
        await client.PublishAcceptedAsync(article, other);

        await client.PublishAcceptedAsync(s.Sign(5, "", [["a", $"30023:{s.Pubkey}:post"]], t0 + 10));
        var byAddress = $$"""{"kinds":[30023],"authors":["{{s.Pubkey}}"],"#d":["post"]}""";
        Assert.Empty(await client.QueryIdsAsync("a1", byAddress));
        Assert.Equal([IdOf(other)], await client.QueryIdsAsync("o", ById(other)));

        // An older version than the deletion stays refused; a newer one is a new post.
        var (ok, message) = await client.PublishAsync(s.Sign(30023, "v0", [["d", "post"]], t0 + 5));
        Assert.False(ok);
        Assert.StartsWith("blocked:", message);
        var (again, why) = await client.PublishAsync(article);   // the deleted version itself, again
        Assert.False(again);
        Assert.StartsWith("blocked:", why);
        var newer = s.Sign(30023, "v2", [["d", "post"]], t0 + 20);
        await client.PublishAcceptedAsync(newer);
        Assert.Equal([IdOf(newer)], await client.QueryIdsAsync("a2", byAddress));
    }

    [Fact]
    public async Task Event_deleted_before_it_arrives_never_reaches_live_subscribers()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var publisher = await relay.ConnectAsync();
        await using var subscriber = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var note = s.Sign(1, "never seen");
        await subscriber.QueryIdsAsync("live", $$"""{"authors":["{{s.Pubkey}}"]}""");

        await publisher.PublishAcceptedAsync(s.Sign(5, "", [["e", IdOf(note)]]));
        var (ok, _) = await publisher.PublishAsync(note);
        Assert.False(ok);
        var marker = s.Sign(7, "+");
        await publisher.PublishAcceptedAsync(marker);

        // The deletion, then the marker: nothing in between.
        var first = await subscriber.ReadUntilAsync("EVENT", "live");
        Assert.Equal(5, first[2].GetProperty("kind").GetInt32());
        var second = await subscriber.ReadUntilAsync("EVENT", "live");
        Assert.Equal(IdOf(marker), second[2].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Expired_event_is_refused_and_one_expiring_soon_stops_being_served_then_is_purged()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();

        var (ok, message) = await client.PublishAsync(s.Sign(1, "late", [["expiration", (Now - 1).ToString()]]));
        Assert.False(ok);
        Assert.StartsWith("invalid:", message);

        var soon = s.Sign(1, "soon", [["expiration", (Now + 2).ToString()]]);
        await client.PublishAcceptedAsync(soon);
        Assert.Equal([IdOf(soon)], await client.QueryIdsAsync("before", ById(soon)));
        await Task.Delay(TimeSpan.FromSeconds(3.2));
        Assert.Empty(await client.QueryIdsAsync("after", ById(soon)));

        Assert.Equal(1, await relay.Host.Purger.PurgeOnceAsync());
        await using var conn = await relay.Host.Database.OpenConnectionAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*) FROM events", conn);
        Assert.Equal(0L, (long)(await cmd.ExecuteScalarAsync())!);
    }

    [Theory]
    [InlineData("ALL_RELAYS")]
    [InlineData("this relay")]
    public async Task Request_to_vanish_deletes_everything_of_the_author_and_refuses_their_old_events(string target)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        using var friend = EventSigner.Random();
        var t0 = Now - 100;
        var note = s.Sign(1, "one", createdAt: t0);
        var profile = s.Sign(0, "{}", createdAt: t0);
        var wrapToThem = friend.Sign(1059, "sealed", [["p", s.Pubkey]], t0);
        var friendsNote = friend.Sign(1, "unrelated", createdAt: t0);
        await client.PublishAcceptedAsync(note, profile, wrapToThem, friendsNote);

        var relayTag = target == "ALL_RELAYS" ? "ALL_RELAYS" : relay.Options.RelayUrl + "/";
        await client.PublishAcceptedAsync(s.Sign(62, "bye", [["relay", relayTag]], t0 + 50));

        Assert.Empty(await client.QueryIdsAsync("mine", $$"""{"authors":["{{s.Pubkey}}"],"kinds":[0,1]}"""));
        Assert.Equal([IdOf(friendsNote)], await client.QueryIdsAsync("friend", $$"""{"authors":["{{friend.Pubkey}}"]}"""));
        var (ok, message) = await client.PublishAsync(note);
        Assert.False(ok);
        Assert.StartsWith("blocked:", message);
    }

    [Fact]
    public async Task Request_to_vanish_from_another_relay_changes_nothing_here()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var note = s.Sign(1, "stays", createdAt: Now - 100);
        await client.PublishAcceptedAsync(note, s.Sign(62, "bye", [["relay", "wss://elsewhere.example.com"]]));
        Assert.Equal([IdOf(note)], await client.QueryIdsAsync("kept", ById(note)));
    }

    [Fact]
    public async Task Older_then_newer_profile_sent_back_to_back_both_get_OK_true()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { WriteBatchDelay = TimeSpan.FromMilliseconds(200) });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var older = s.Sign(0, """{"name":"a"}""", createdAt: Now - 2);
        var newer = s.Sign(0, """{"name":"b"}""", createdAt: Now - 1);

        // Both sent before either is answered, so they land in one write batch.
        await client.SendEventAsync(older);
        await client.SendEventAsync(newer);
        var first = await client.ReadUntilAsync("OK", IdOf(older));
        var second = await client.ReadUntilAsync("OK", IdOf(newer));

        Assert.True(first[2].GetBoolean(), first[3].GetString());
        Assert.True(second[2].GetBoolean(), second[3].GetString());
        Assert.Equal([IdOf(newer)], await client.QueryIdsAsync("p", $$"""{"authors":["{{s.Pubkey}}"],"kinds":[0]}"""));
    }
}

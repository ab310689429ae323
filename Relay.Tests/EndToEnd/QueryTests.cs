using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// REQ against stored events (NIP-01): each filter condition, limits and ordering, several filters.
public sealed class QueryTests
{
    /// A fixed past time, so created_at values are known and never "in the future".
    private static readonly long T0 = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 100_000;

    private static string Authors(params string[] pubkeys) => $$"""{"authors":[{{string.Join(",", pubkeys.Select(p => $"\"{p}\""))}}]}""";

    [Fact]
    public async Task Filter_by_ids_returns_exactly_those_events()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var events = Enumerable.Range(0, 5).Select(i => s.Sign(1, $"e{i}", createdAt: T0 + i)).ToArray();
        await client.PublishAcceptedAsync(events);

        var ids = await client.QueryIdsAsync("s", $$"""{"ids":["{{IdOf(events[1])}}","{{IdOf(events[3])}}"]}""");

        Assert.Equal([IdOf(events[3]), IdOf(events[1])], ids);
    }

    [Fact]
    public async Task Filter_by_ids_with_an_unknown_id_returns_nothing()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await client.PublishAcceptedAsync(s.Sign(1, "stored"));

        Assert.Empty(await client.QueryIdsAsync("s", $$"""{"ids":["{{new string('e', 64)}}"]}"""));
    }

    [Fact]
    public async Task Filter_by_authors_returns_only_their_events()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        using var carol = EventSigner.Random();
        var a = alice.Sign(1, "a", createdAt: T0 + 1);
        var b = bob.Sign(1, "b", createdAt: T0 + 2);
        var c = carol.Sign(1, "c", createdAt: T0 + 3);
        await client.PublishAcceptedAsync(a, b, c);

        Assert.Equal([IdOf(a)], await client.QueryIdsAsync("one", Authors(alice.Pubkey)));
        Assert.Equal([IdOf(c), IdOf(a)], await client.QueryIdsAsync("two", Authors(alice.Pubkey, carol.Pubkey)));
    }

    [Fact]
    public async Task Filter_by_kinds_returns_only_those_kinds()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var note = s.Sign(1, "note", createdAt: T0 + 1);
        var reaction = s.Sign(7, "+", createdAt: T0 + 2);
        var repost = s.Sign(6, "", createdAt: T0 + 3);
        await client.PublishAcceptedAsync(note, reaction, repost);

        Assert.Equal([IdOf(reaction)], await client.QueryIdsAsync("one", """{"kinds":[7]}"""));
        Assert.Equal([IdOf(repost), IdOf(note)], await client.QueryIdsAsync("two", """{"kinds":[1,6]}"""));
    }

    [Theory]
    [InlineData("e")]
    [InlineData("p")]
    [InlineData("t")]
    public async Task Filter_by_a_single_letter_tag_returns_events_carrying_that_tag_value(string letter)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var wanted = letter == "t" ? "nostr" : new string('a', 64);
        var other = letter == "t" ? "bitcoin" : new string('b', 64);
        var hit = s.Sign(1, "hit", [[letter, wanted]], T0 + 1);
        var hitAmongOthers = s.Sign(1, "hit too", [["x", "y"], [letter, other], [letter, wanted]], T0 + 2);
        var otherValue = s.Sign(1, "other value", [[letter, other]], T0 + 3);
        var otherLetter = s.Sign(1, "other letter", [[letter == "e" ? "p" : "e", wanted]], T0 + 4);
        var valueNotFirst = s.Sign(1, "value in the third position", [[letter, "zzz", wanted]], T0 + 5);
        var untagged = s.Sign(1, "untagged", createdAt: T0 + 6);
        await client.PublishAcceptedAsync(hit, hitAmongOthers, otherValue, otherLetter, valueNotFirst, untagged);

        var ids = await client.QueryIdsAsync("s", $$"""{"#{{letter}}":["{{wanted}}"]}""");

        Assert.Equal([IdOf(hitAmongOthers), IdOf(hit)], ids);
    }

    [Fact]
    public async Task Tag_filter_with_several_values_matches_any_of_them()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var a = s.Sign(1, "a", [["t", "alpha"]], T0 + 1);
        var b = s.Sign(1, "b", [["t", "beta"]], T0 + 2);
        var c = s.Sign(1, "c", [["t", "gamma"]], T0 + 3);
        await client.PublishAcceptedAsync(a, b, c);

        Assert.Equal([IdOf(b), IdOf(a)], await client.QueryIdsAsync("s", """{"#t":["alpha","beta"]}"""));
    }

    [Theory]
    [InlineData("café ☕")]
    [InlineData("🤙🏽")]
    [InlineData("a\u0000b")]
    [InlineData("quote\" backslash\\")]
    [InlineData("")]
    public async Task Tag_filter_matches_values_with_any_characters(string value)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var hit = s.Sign(1, "hit", [["t", value]], T0 + 1);
        var miss = s.Sign(1, "miss", [["t", value + "x"]], T0 + 2);
        await client.PublishAcceptedAsync(hit, miss);

        var ids = await client.QueryIdsAsync("s", $$"""{"#t":[{{System.Text.Json.JsonSerializer.Serialize(value)}}]}""");

        Assert.Equal([IdOf(hit)], ids);
    }

    [Fact]
    public async Task Conditions_within_one_filter_must_all_hold()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        var all = alice.Sign(1, "all", [["t", "x"], ["p", bob.Pubkey]], T0 + 10);
        var wrongKind = alice.Sign(7, "+", [["t", "x"], ["p", bob.Pubkey]], T0 + 11);
        var wrongAuthor = bob.Sign(1, "bob", [["t", "x"], ["p", bob.Pubkey]], T0 + 12);
        var missingP = alice.Sign(1, "no p", [["t", "x"]], T0 + 13);
        var tooOld = alice.Sign(1, "old", [["t", "x"], ["p", bob.Pubkey]], T0 + 1);
        await client.PublishAcceptedAsync(all, wrongKind, wrongAuthor, missingP, tooOld);

        var ids = await client.QueryIdsAsync("s",
            $$"""{"authors":["{{alice.Pubkey}}"],"kinds":[1],"#t":["x"],"#p":["{{bob.Pubkey}}"],"since":{{T0 + 5}}}""");

        Assert.Equal([IdOf(all)], ids);
    }

    [Fact]
    public async Task Since_and_until_are_inclusive_bounds_on_created_at()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var events = Enumerable.Range(0, 6).Select(i => s.Sign(1, $"t{i}", createdAt: T0 + i * 10)).ToArray();
        await client.PublishAcceptedAsync(events);

        var between = await client.QueryIdsAsync("both", $$"""{"since":{{T0 + 10}},"until":{{T0 + 30}}}""");
        var since = await client.QueryIdsAsync("since", $$"""{"since":{{T0 + 40}}}""");
        var until = await client.QueryIdsAsync("until", $$"""{"until":{{T0 + 9}}}""");
        var empty = await client.QueryIdsAsync("empty", $$"""{"since":{{T0 + 31}},"until":{{T0 + 39}}}""");

        Assert.Equal([IdOf(events[3]), IdOf(events[2]), IdOf(events[1])], between);
        Assert.Equal([IdOf(events[5]), IdOf(events[4])], since);
        Assert.Equal([IdOf(events[0])], until);
        Assert.Empty(empty);
    }

    [Fact]
    public async Task Since_after_until_returns_nothing()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await client.PublishAcceptedAsync(s.Sign(1, "x", createdAt: T0));

        Assert.Empty(await client.QueryIdsAsync("s", $$"""{"since":{{T0 + 1}},"until":{{T0 - 1}}}"""));
    }

    [Fact]
    public async Task Limit_returns_the_newest_events_newest_first()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        // Published out of order, so insertion order can't pass for created_at order.
        var times = new[] { 3, 0, 4, 1, 2 };
        var events = times.ToDictionary(t => t, t => s.Sign(1, $"t{t}", createdAt: T0 + t));
        await client.PublishAcceptedAsync(times.Select(t => events[t]).ToArray());

        var ids = await client.QueryIdsAsync("s", """{"limit":3}""");
        var all = await client.QueryIdsAsync("all", "{}");

        Assert.Equal([IdOf(events[4]), IdOf(events[3]), IdOf(events[2])], ids);
        Assert.Equal(new[] { 4, 3, 2, 1, 0 }.Select(t => IdOf(events[t])), all);
    }

    [Fact]
    public async Task An_answer_larger_than_one_send_batch_arrives_whole_and_in_order_then_EOSE()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        // 60 events of ~5 KB: the stored answer spans several 64 KiB batches, and the middle event
        // alone is bigger than a batch.
        var events = Enumerable.Range(0, 60)
            .Select(i => s.Sign(1, new string((char)('a' + i % 26), i == 30 ? 100_000 : 5_000), createdAt: T0 + i)).ToArray();
        await client.PublishAcceptedAsync(events);

        var ids = await client.QueryIdsAsync("big", Authors(s.Pubkey));

        Assert.Equal(events.Reverse().Select(IdOf), ids);
    }

    [Fact]
    public async Task Events_with_equal_created_at_are_ordered_lowest_id_first_and_limit_keeps_the_lowest_ids()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var events = Enumerable.Range(0, 8).Select(i => s.Sign(1, $"same second {i}", createdAt: T0)).ToArray();
        var newest = s.Sign(1, "one second later", createdAt: T0 + 1);
        await client.PublishAcceptedAsync(events);
        await client.PublishAcceptedAsync(newest);
        var byId = events.Select(IdOf).Order(StringComparer.Ordinal).ToList();

        var all = await client.QueryIdsAsync("all", "{}");
        var limited = await client.QueryIdsAsync("lim", """{"limit":4}""");

        Assert.Equal([IdOf(newest), .. byId], all);
        Assert.Equal([IdOf(newest), .. byId.Take(3)], limited);
    }

    [Fact]
    public async Task Limit_above_max_limit_is_capped_at_max_limit()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxLimit = 3 });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var events = Enumerable.Range(0, 5).Select(i => s.Sign(1, $"e{i}", createdAt: T0 + i)).ToArray();
        await client.PublishAcceptedAsync(events);

        var ids = await client.QueryIdsAsync("s", """{"limit":100}""");

        Assert.Equal([IdOf(events[4]), IdOf(events[3]), IdOf(events[2])], ids);
    }

    [Fact]
    public async Task Several_filters_in_one_REQ_are_ORed_and_each_has_its_own_limit()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        // Alice's events are all newer than Bob's: a shared limit would return only Alice's.
        var a = Enumerable.Range(0, 5).Select(i => alice.Sign(1, $"a{i}", createdAt: T0 + 100 + i)).ToArray();
        var b = Enumerable.Range(0, 5).Select(i => bob.Sign(1, $"b{i}", createdAt: T0 + i)).ToArray();
        await client.PublishAcceptedAsync([.. a, .. b]);

        var ids = await client.QueryIdsAsync("s",
            $$"""{"authors":["{{alice.Pubkey}}"],"limit":2}""", $$"""{"authors":["{{bob.Pubkey}}"],"limit":3}""");

        Assert.Equal([IdOf(a[4]), IdOf(a[3]), IdOf(b[4]), IdOf(b[3]), IdOf(b[2])], ids);
    }

    [Fact]
    public async Task Event_matching_two_filters_of_one_REQ_is_sent_once()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        var both = alice.Sign(1, "both", [["t", "x"]], T0 + 3);
        var onlyAuthor = alice.Sign(1, "author only", createdAt: T0 + 2);
        var onlyTag = bob.Sign(1, "tag only", [["t", "x"]], T0 + 1);
        await client.PublishAcceptedAsync(both, onlyAuthor, onlyTag);

        var ids = await client.QueryIdsAsync("s", Authors(alice.Pubkey), """{"#t":["x"]}""", $$"""{"ids":["{{IdOf(both)}}"]}""");

        Assert.Equal([IdOf(both), IdOf(onlyAuthor), IdOf(onlyTag)], ids);
    }

    [Fact]
    public async Task Limit_0_gives_just_EOSE()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await client.PublishAcceptedAsync(s.Sign(1, "one"), s.Sign(1, "two"));

        Assert.Empty(await client.QueryIdsAsync("zero", """{"limit":0}"""));
        Assert.Equal(2, (await client.QueryIdsAsync("control", """{"limit":2}""")).Count);
    }

    [Fact]
    public async Task Empty_ids_list_gives_just_EOSE()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await client.PublishAcceptedAsync(s.Sign(1, "one"));

        Assert.Empty(await client.QueryIdsAsync("s", """{"ids":[]}"""));
        Assert.Empty(await client.QueryIdsAsync("t", $$"""{"authors":["{{s.Pubkey}}"],"kinds":[]}"""));
    }

    [Fact]
    public async Task Empty_filter_matches_every_stored_event()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        var a = alice.Sign(1, "a", createdAt: T0 + 1);
        var b = bob.Sign(30023, "b", [["d", "x"]], T0 + 2);
        await client.PublishAcceptedAsync(a, b);

        Assert.Equal([IdOf(b), IdOf(a)], await client.QueryIdsAsync("s", "{}"));
    }

    [Fact]
    public async Task Event_is_no_longer_served_once_its_NIP40_expiration_passes()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var expiresAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3;
        var json = s.Sign(1, "short-lived", [["expiration", expiresAt.ToString()]]);
        await client.PublishAcceptedAsync(json);

        // Poll (not a timing assertion): it must disappear soon after expiresAt, whenever that is.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var ids = await client.QueryIdsAsync("poll", Authors(s.Pubkey));
            if (ids.Count == 0) break;
            Assert.True(DateTime.UtcNow < deadline, "expired event still served 12 s after its expiration");
            await Task.Delay(250);
        }
        Assert.True(DateTimeOffset.UtcNow.ToUnixTimeSeconds() >= expiresAt, "event vanished before it expired");
    }
}

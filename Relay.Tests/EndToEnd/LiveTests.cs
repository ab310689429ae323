using System.Text.Json;
using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// Live subscriptions: events accepted after EOSE reach matching subscriptions, once.
/// "Nothing arrives" is shown with a marker: the relay fans events out one at a time in the order
/// it accepted them, so when a later marker event is the next message, nothing came before it.
public sealed class LiveTests
{
    private static string ByAuthor(string pubkey) => $$"""{"authors":["{{pubkey}}"]}""";

    [Fact]
    public async Task Event_published_after_EOSE_by_another_connection_arrives_as_EVENT()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        Assert.Empty(await subscriber.QueryAsync("feed", ByAuthor(s.Pubkey)));

        var json = s.Sign(1, "live!");
        await publisher.PublishAcceptedAsync(json);
        var m = await subscriber.NextAsync();

        Assert.Equal("EVENT", m[0].GetString());
        Assert.Equal("feed", m[1].GetString());
        Assert.Equal(IdOf(json), m[2].GetProperty("id").GetString());
        Assert.Equal("live!", m[2].GetProperty("content").GetString());
    }

    [Fact]
    public async Task Event_not_matching_the_filter_is_not_delivered()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        await subscriber.QueryAsync("alice", $$"""{"authors":["{{alice.Pubkey}}"],"kinds":[1]}""");

        await publisher.PublishAcceptedAsync(bob.Sign(1, "bob, not alice"), alice.Sign(7, "+"));
        var marker = alice.Sign(1, "marker");
        await publisher.PublishAcceptedAsync(marker);
        var m = await subscriber.NextAsync();

        Assert.Equal("EVENT", m[0].GetString());
        Assert.Equal(IdOf(marker), m[2].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Live_event_respects_since_and_until()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await subscriber.QueryAsync("window", $$"""{"authors":["{{s.Pubkey}}"],"since":{{now - 100}},"until":{{now - 50}}}""");

        var inside = s.Sign(1, "inside", createdAt: now - 75);
        await publisher.PublishAcceptedAsync(s.Sign(1, "too new", createdAt: now - 10), s.Sign(1, "too old", createdAt: now - 200), inside);
        var m = await subscriber.NextAsync();

        Assert.Equal(IdOf(inside), m[2].GetProperty("id").GetString());
    }

    [Fact]
    public async Task CLOSE_stops_delivery_to_that_subscription()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        await subscriber.QueryAsync("alice", ByAuthor(alice.Pubkey));
        await subscriber.SendAsync("""["CLOSE","alice"]""");
        // Messages on one connection are handled in order: once this EOSE arrives, CLOSE was handled.
        await subscriber.QueryAsync("marker", ByAuthor(bob.Pubkey));

        await publisher.PublishAcceptedAsync(alice.Sign(1, "nobody listens"));
        var marker = bob.Sign(1, "marker");
        await publisher.PublishAcceptedAsync(marker);
        var m = await subscriber.NextAsync();

        Assert.Equal("marker", m[1].GetString());
        Assert.Equal(IdOf(marker), m[2].GetProperty("id").GetString());
    }

    [Fact]
    public async Task REQ_with_the_same_subscription_id_replaces_the_old_filters()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        await subscriber.QueryAsync("s", ByAuthor(alice.Pubkey));
        await subscriber.QueryAsync("s", ByAuthor(bob.Pubkey));

        await publisher.PublishAcceptedAsync(alice.Sign(1, "old filter"));
        var fromBob = bob.Sign(1, "new filter");
        await publisher.PublishAcceptedAsync(fromBob);
        var m = await subscriber.NextAsync();

        Assert.Equal("s", m[1].GetString());
        Assert.Equal(IdOf(fromBob), m[2].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Replacing_a_subscription_does_not_count_against_the_subscription_limit()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxSubscriptions = 2 });
        await using var client = await relay.ConnectAsync();

        for (var i = 0; i < 5; i++) await client.QueryAsync("same", "{}");
        await client.QueryAsync("other", "{}");
        await client.SendAsync("""["REQ","third",{}]""");
        var refused = await client.NextAsync();

        Assert.Equal("CLOSED", refused[0].GetString());
        Assert.Equal("third", refused[1].GetString());
    }

    [Fact]
    public async Task Two_subscriptions_on_one_connection_each_get_the_event_once()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await subscriber.QueryAsync("by-author", ByAuthor(s.Pubkey));
        await subscriber.QueryAsync("by-tag", """{"#t":["both"]}""");

        var first = s.Sign(1, "first", [["t", "both"]]);
        var second = s.Sign(1, "second", [["t", "both"]]);
        await publisher.PublishAcceptedAsync(first, second);
        var received = new List<(string Sub, string Id)>();
        while (received.Count(r => r.Id == IdOf(second)) < 2)
        {
            var m = await subscriber.NextAsync();
            Assert.Equal("EVENT", m[0].GetString());
            received.Add((m[1].GetString()!, m[2].GetProperty("id").GetString()!));
        }

        // All deliveries of `first` precede those of `second`, so these are all of them.
        var ofFirst = received.Where(r => r.Id == IdOf(first)).Select(r => r.Sub).Order().ToList();
        Assert.Equal(["by-author", "by-tag"], ofFirst);
        Assert.Equal(4, received.Count);
    }

    [Fact]
    public async Task Live_event_matching_two_filters_of_one_subscription_is_sent_once()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await subscriber.QueryAsync("s", ByAuthor(s.Pubkey), """{"kinds":[1]}""", """{"#t":["x"]}""");

        var both = s.Sign(1, "matches all three", [["t", "x"]]);
        var marker = s.Sign(30000, "matches only the author filter", [["d", "m"]]);
        await publisher.PublishAcceptedAsync(both, marker);
        var m1 = await subscriber.NextAsync();
        var m2 = await subscriber.NextAsync();

        Assert.Equal(IdOf(both), m1[2].GetProperty("id").GetString());
        Assert.Equal(IdOf(marker), m2[2].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Live_events_are_not_limited_by_the_filter_limit()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        Assert.Empty(await subscriber.QueryAsync("s", $$"""{"authors":["{{s.Pubkey}}"],"limit":0}"""));

        var events = Enumerable.Range(0, 3).Select(i => s.Sign(1, $"live {i}")).ToArray();
        await publisher.PublishAcceptedAsync(events);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add((await subscriber.NextAsync())[2].GetProperty("id").GetString()!);

        Assert.Equal(events.Select(IdOf), ids);
    }

    [Fact]
    public async Task Subscriber_gets_its_own_published_event_live()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await client.QueryAsync("mine", ByAuthor(s.Pubkey));

        var json = s.Sign(1, "echo");
        await client.SendEventAsync(json);
        var received = new List<JsonElement>();
        var ok = await client.ReadUntilAsync("OK", IdOf(json), received);
        if (!received.Any(m => m[0].GetString() == "EVENT")) received.Add(await client.ReadUntilAsync("EVENT", "mine"));

        Assert.True(ok[2].GetBoolean());
        Assert.Equal(IdOf(json), Assert.Single(received, m => m[0].GetString() == "EVENT")[2].GetProperty("id").GetString());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    [InlineData(100)]
    [InlineData(170)]
    public async Task Events_published_across_the_EOSE_boundary_arrive_exactly_once(int reqAfterAcks)
    {
        const int N = 200;
        const int Window = 8;
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var events = Enumerable.Range(0, N).Select(i => s.Sign(1, $"stream {i}")).ToArray();
        var expected = events.Select(IdOf).ToHashSet();
        var midStream = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var publishing = Task.Run(async () =>
        {
            // Keep a few events in flight, so storing and fan-out overlap the subscriber's REQ.
            int sent = 0, acked = 0;
            if (reqAfterAcks == 0) midStream.TrySetResult();
            while (acked < N)
            {
                while (sent < N && sent - acked < Window) await publisher.SendEventAsync(events[sent++]);
                var ok = await publisher.ReadUntilAsync("OK");
                Assert.True(ok[2].GetBoolean(), ok[3].GetString());
                if (++acked == reqAfterAcks) midStream.TrySetResult();
            }
        });

        await midStream.Task.WaitAsync(RelayClient.Timeout);
        await subscriber.SendAsync($$"""["REQ","s",{"authors":["{{s.Pubkey}}"]}]""");
        var counts = new Dictionary<string, int>();
        var eose = 0;
        while (counts.Count < N)
        {
            var m = await subscriber.NextAsync();
            if (m[0].GetString() == "EOSE") { eose++; continue; }
            Assert.Equal("EVENT", m[0].GetString());
            var id = m[2].GetProperty("id").GetString()!;
            counts[id] = counts.GetValueOrDefault(id) + 1;
        }
        await publishing;

        // A marker published after all of them: anything sent twice would arrive before it.
        var marker = s.Sign(1, "marker");
        await publisher.PublishAcceptedAsync(marker);
        while (true)
        {
            var m = await subscriber.NextAsync();
            if (m[0].GetString() == "EOSE") { eose++; continue; }
            var id = m[2].GetProperty("id").GetString()!;
            if (id == IdOf(marker)) break;
            counts[id] = counts.GetValueOrDefault(id) + 1;
        }

        Assert.Equal(1, eose);
        Assert.Equal(expected, counts.Keys.ToHashSet());
        Assert.All(counts, kv => Assert.True(kv.Value == 1, $"{kv.Key} received {kv.Value} times"));
    }
}

using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Fanout;

/// The hand-over from stored to live events is exact at any bus delay: the bus between two relay
/// processes is held back far longer than the relay ever waited before (5 s), and a subscription
/// still gets each event once, stored or live, never both and never one its query left out.
public sealed class LiveFenceTests
{
    [Fact]
    public async Task An_event_reaches_a_subscription_exactly_once_however_late_the_bus_delivers_it()
    {
        await using var redis = await OwnRedis.StartAsync();
        await using var proxy = HoldingProxy.Start(redis.Port);
        await using var db = await TestDatabase.CreateAsync();
        var channel = "fence:" + Guid.NewGuid().ToString("N");
        await using var a = await TestRelay.StartAsync(o => o with { RedisUrl = redis.Url, RedisChannel = channel, HotTierMb = 0 }, db);
        await using var b = await TestRelay.StartAsync(o => o with { RedisUrl = proxy.RedisUrl, RedisChannel = channel, HotTierMb = 0 }, db);
        using var signer = EventSigner.Random();
        var run = Guid.NewGuid().ToString("N");
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string Event(string content, long createdAt) => signer.Sign(1, content, [["t", run]], createdAt);
        await using var publisher = await a.ConnectAsync();
        await using var reader = await b.ConnectAsync();

        // B hears A through the proxy before the bus is held.
        await reader.QueryAsync("warm", $$"""{"kinds":[1],"#t":["{{run}}"]}""");
        await publisher.PublishAcceptedAsync(Event("warm-up", now - 1000));
        Assert.Equal("warm-up", (await reader.ReadUntilAsync("EVENT", "warm"))[2].GetProperty("content").GetString());
        await reader.SendAsync("""["CLOSE","warm"]""");

        proxy.Hold();
        // Stored before the REQ, their live copies still on the bus: 30, of which the limit returns 20.
        var before = Enumerable.Range(0, 30).Select(i => Event($"before {i}", now - 500 + i)).ToArray();
        await publisher.PublishAcceptedAsync(before);
        var stored = await reader.QueryAsync("s", $$"""{"kinds":[1],"#t":["{{run}}"],"limit":20}""");
        Assert.Equal(Enumerable.Range(10, 20).Reverse().Select(i => $"before {i}"), stored.Select(e => e.GetProperty("content").GetString()));
        // Stored after the REQ's snapshot: these and only these are new to the subscription.
        var after = Enumerable.Range(0, 10).Select(i => Event($"after {i}", now - 400 + i)).ToArray();
        await publisher.PublishAcceptedAsync(after);
        await Task.Delay(TimeSpan.FromSeconds(7));
        proxy.Release();

        // The bus keeps A's order: once the last event arrives, every held one has been offered.
        await publisher.PublishAcceptedAsync(Event("last", now - 300));
        var live = new List<string>();
        while (true)
        {
            var content = (await reader.ReadUntilAsync("EVENT", "s"))[2].GetProperty("content").GetString()!;
            if (content == "last") break;
            live.Add(content);
        }
        // Each once (two write loops may commit them in either order).
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"after {i}").Order(), live.Order());
    }
}

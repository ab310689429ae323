using System.Text.RegularExpressions;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Faults;

/// Redis really goes away (its server killed) and comes back on the same port.
public sealed class RedisOutageTests
{
    [Fact]
    public async Task Without_Redis_local_delivery_goes_on_then_cross_process_delivery_resumes_by_itself()
    {
        await using var redis = await OwnRedis.StartAsync();
        await using var db = await TestDatabase.CreateAsync();
        var channel = "outage:" + Guid.NewGuid().ToString("N");
        await using var a = await TestRelay.StartAsync(o => o with { RedisUrl = redis.Url, RedisChannel = channel }, db);
        await using var b = await TestRelay.StartAsync(o => o with { RedisUrl = redis.Url, RedisChannel = channel }, db);
        using var signer = EventSigner.Random();
        var filter = $"{{\"authors\":[\"{signer.Pubkey}\"]}}";
        await using var onA = await a.ConnectAsync();
        await using var onB = await b.ConnectAsync();
        await using var publisher = await a.ConnectAsync();
        await onA.QueryAsync("s", filter);
        await onB.QueryAsync("s", filter);

        await redis.StopAsync();
        await Eventually.WaitForAsync(() => Task.FromResult(a.Host.Metrics.Render().Contains("relay_redis_connected 0\n")), "node A to notice Redis is gone");
        for (var i = 0; i < 20; i++)
            Assert.True((await publisher.PublishAsync(signer.Sign(1, $"during the outage {i}"))).Accepted);
        for (var i = 0; i < 20; i++)   // this node's subscribers miss nothing
            Assert.Equal($"during the outage {i}", (await onA.ReadUntilAsync("EVENT", "s"))[2].GetProperty("content").GetString());

        await redis.StartAgainAsync();
        await Eventually.WaitForAsync(() => Task.FromResult(a.Host.Metrics.Render().Contains("relay_redis_connected 1\n")
                                                 && b.Host.Metrics.Render().Contains("relay_redis_connected 1\n")), "both nodes to reconnect");
        // Resubscribing follows the reconnect: keep publishing until node B's subscriber hears one.
        using var keepPublishing = new CancellationTokenSource();
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; !keepPublishing.IsCancellationRequested; i++)
            {
                Assert.True((await publisher.PublishAsync(signer.Sign(1, $"after {i}"))).Accepted);
                await Task.Delay(200);
            }
        });
        // Node A's client library may still hold the publishes it could not send during the outage
        // and send them on reconnect: B's subscription then gets them late, which is right (they
        // were committed after its query), but each once, in order, before what came after.
        var late = new List<string>();
        string heard;
        while (!(heard = (await onB.ReadUntilAsync("EVENT", "s"))[2].GetProperty("content").GetString()!).StartsWith("after", StringComparison.Ordinal))
            late.Add(heard);
        keepPublishing.Cancel();
        await publishing;
        Assert.All(late, m => Assert.StartsWith("during the outage ", m));
        var order = late.Select(m => int.Parse(m["during the outage ".Length..])).ToList();
        Assert.Equal(order.Order().Distinct(), order);   // each once, in the order published
        Assert.True(a.Host.Metrics.Render().Contains("relay_redis_errors_total"), "/metrics counts Redis errors");
    }

    [Fact]
    public async Task A_relay_process_logs_the_outage_once_and_exits_0_on_SIGTERM_after_Redis_came_back()
    {
        await using var redis = await OwnRedis.StartAsync();
        await using var db = await TestDatabase.CreateAsync();
        await using var relay = await RelayProcess.StartAsync(new Dictionary<string, string>
        {
            ["DATABASE_URL"] = db.Url, ["REDIS_URL"] = redis.Url, ["REDIS_CHANNEL"] = "outage:" + Guid.NewGuid().ToString("N"),
        });
        using var signer = EventSigner.Random();
        await using (var client = await relay.ConnectAsync())
        {
            await redis.StopAsync();
            await Eventually.WaitForAsync(async () => (await relay.MetricsAsync()).Contains("relay_redis_connected 0\n"), "the relay to notice Redis is gone");
            for (var i = 0; i < 30; i++)
                Assert.True((await client.PublishAsync(signer.Sign(1, $"event {i}"))).Accepted);
            await redis.StartAgainAsync();
            await Eventually.WaitForAsync(async () => (await relay.MetricsAsync()).Contains("relay_redis_connected 1\n"), "the relay to reconnect");
            Assert.True((await client.PublishAsync(signer.Sign(1, "after"))).Accepted);
        }

        // Once per outage, not once per event.
        Assert.Single(Regex.Matches(relay.Log, "Redis connection lost"));
        await Eventually.WaitForAsync(() => Task.FromResult(relay.Log.Contains("Redis connection restored")), "the restored line in the log");

        relay.Signal("TERM");
        Assert.Equal(0, await relay.ExitCodeAsync(TimeSpan.FromSeconds(15)));
        Assert.DoesNotContain("Unhandled exception", relay.Log);
    }
}

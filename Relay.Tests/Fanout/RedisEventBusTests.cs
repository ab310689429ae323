using Relay.Server.Fanout;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Fanout;

/// Two relay processes (two RelayHosts) on one database and one Redis behave as one relay.
public sealed class RedisEventBusTests
{
    private static string RedisUrl =>
        Environment.GetEnvironmentVariable("RELAY_TEST_REDIS_URL")
        ?? throw new InvalidOperationException("RELAY_TEST_REDIS_URL is not set: run the tests with scripts/test, which starts Redis");

    private static async Task<(TestDatabase Db, TestRelay A, TestRelay B)> StartPairAsync()
    {
        var db = await TestDatabase.CreateAsync();
        var channel = "test:" + Guid.NewGuid().ToString("N");   // keeps parallel tests apart
        var a = await TestRelay.StartAsync(o => o with { RedisUrl = RedisUrl, RedisChannel = channel }, db);
        var b = await TestRelay.StartAsync(o => o with { RedisUrl = RedisUrl, RedisChannel = channel }, db);
        return (db, a, b);
    }

    [Fact]
    public async Task Subscriber_on_one_node_receives_an_event_published_on_another_exactly_once()
    {
        var (db, a, b) = await StartPairAsync();
        await using (db)
        await using (a)
        await using (b)
        {
            using var signer = EventSigner.Random();
            await using var subscriber = await b.ConnectAsync();
            await using var publisher = await a.ConnectAsync();
            Assert.Empty(await subscriber.QueryAsync("live", $"{{\"authors\":[\"{signer.Pubkey}\"]}}"));

            var first = signer.Sign(1, "from node A");
            Assert.True((await publisher.PublishAsync(first)).Accepted);
            var delivered = await subscriber.ReadUntilAsync("EVENT", "live");
            Assert.Equal("from node A", delivered[2].GetProperty("content").GetString());

            // A second event marks the end: if the first came twice, its copy would arrive before this one.
            var second = signer.Sign(1, "marker");
            Assert.True((await publisher.PublishAsync(second)).Accepted);
            var next = await subscriber.ReadUntilAsync("EVENT", "live");
            Assert.Equal("marker", next[2].GetProperty("content").GetString());
        }
    }

    [Fact]
    public async Task Ephemeral_event_crosses_nodes_and_a_node_does_not_deliver_its_own_event_twice()
    {
        var (db, a, b) = await StartPairAsync();
        await using (db)
        await using (a)
        await using (b)
        {
            using var signer = EventSigner.Random();
            await using var onA = await a.ConnectAsync();
            await using var onB = await b.ConnectAsync();
            var filter = $"{{\"authors\":[\"{signer.Pubkey}\"]}}";
            await onA.QueryAsync("s", filter);
            await onB.QueryAsync("s", filter);

            await using var publisher = await a.ConnectAsync();
            Assert.True((await publisher.PublishAsync(signer.Sign(20001, "ephemeral"))).Accepted);
            Assert.True((await publisher.PublishAsync(signer.Sign(20001, "marker"))).Accepted);

            foreach (var client in new[] { onA, onB })
            {
                Assert.Equal("ephemeral", (await client.ReadUntilAsync("EVENT", "s"))[2].GetProperty("content").GetString());
                Assert.Equal("marker", (await client.ReadUntilAsync("EVENT", "s"))[2].GetProperty("content").GetString());
            }
        }
    }

    [Theory]
    [InlineData("redis://127.0.0.1:6380", "127.0.0.1:6380")]
    [InlineData("redis://:secret@cache:6379/2", "cache:6379,password=secret,defaultDatabase=2")]
    [InlineData("redis:6379", "redis:6379")]
    public void Redis_urls_become_client_configuration(string url, string expected) =>
        Assert.Equal(expected, RedisEventBus.ToConfiguration(url));
}

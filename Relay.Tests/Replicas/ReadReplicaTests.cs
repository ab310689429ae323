using System.Text.RegularExpressions;
using Npgsql;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Replicas;

/// DATABASE_READ_URL with a real streaming replica (pg_basebackup of a primary of the test's
/// own). Replay is paused on the replica (pg_wal_replay_pause) to make it lag on demand.
public sealed class ReadReplicaTests
{
    private static async Task<T?> ScalarAsync<T>(string url, string sql)
    {
        var settings = Relay.Storage.Postgres.DatabaseUrl.Parse(url);
        settings.Pooling = false;   // the servers are stopped and started under the test
        await using var conn = new NpgsqlConnection(settings.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (T?)await cmd.ExecuteScalarAsync();
    }

    /// The replica has replayed everything the primary has committed so far.
    private static async Task CaughtUpAsync(OwnPostgres primary, OwnPostgres replica)
    {
        var lsn = await ScalarAsync<string>(primary.Url, "SELECT pg_current_wal_lsn()::text");
        await Eventually.WaitForAsync(async () => await ScalarAsync<bool>(replica.Url, $"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"), "the replica to catch up");
    }

    private static long Counter(string metrics, string line) =>
        Regex.Match(metrics, "^" + Regex.Escape(line) + " (\\d+)$", RegexOptions.Multiline) is { Success: true } m ? long.Parse(m.Groups[1].Value) : 0;

    /// A primary, its replica, and a relay reading from the replica.
    private sealed class Setup : IAsyncDisposable
    {
        public required OwnPostgres Primary { get; init; }
        public required OwnPostgres Replica { get; init; }
        public TestRelay Relay { get; set; } = null!;

        public async ValueTask DisposeAsync()
        {
            if (Relay is not null) await Relay.DisposeAsync();
            await Replica.DisposeAsync();
            await Primary.DisposeAsync();
        }
    }

    private static async Task<Setup> StartAsync()
    {
        var primary = await OwnPostgres.StartAsync();
        var setup = new Setup { Primary = primary, Replica = await primary.StartReplicaAsync() };
        setup.Relay = await TestRelay.StartAsync(o => o with { DatabaseUrl = primary.Url, DatabaseReadUrls = [setup.Replica.Url], HotTierMb = 0 });
        await CaughtUpAsync(primary, setup.Replica);   // the migrations
        return setup;
    }

    [Fact]
    public async Task A_lagging_replica_answers_REQs_while_a_client_reads_its_own_writes_and_misses_nothing_committed_before_its_REQ()
    {
        await using var setup = await StartAsync();
        var (primary, replica, relay) = (setup.Primary, setup.Replica, setup.Relay);
        using var signer = EventSigner.Random();
        await using var writer = await relay.ConnectAsync();
        await using var watcher = await relay.ConnectAsync();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var first = signer.Sign(1, "first", createdAt: now - 10);
        await writer.PublishAcceptedAsync(first);
        await CaughtUpAsync(primary, replica);
        await watcher.QueryAsync("live", $$"""{"authors":["{{signer.Pubkey}}"]}""");

        await ScalarAsync<object>(replica.Url, "SELECT pg_wal_replay_pause()");
        var second = signer.Sign(1, "second", createdAt: now - 5);
        await writer.PublishAcceptedAsync(second);
        Assert.Equal("second", (await watcher.ReadUntilAsync("EVENT", "live"))[2].GetProperty("content").GetString());

        // The writer's own REQ and COUNT see its event before EOSE: the replica is behind, the primary answers.
        var before = Counter(relay.Host.Metrics.Render(), "relay_queries_replica_behind_total");
        Assert.Equal([RelayClientExtensions.IdOf(second), RelayClientExtensions.IdOf(first)],
            await writer.QueryIdsAsync("mine", $$"""{"authors":["{{signer.Pubkey}}"]}"""));
        await writer.SendAsync($$"""["COUNT","n",{"authors":["{{signer.Pubkey}}"]}]""");
        Assert.Equal(2, (await writer.ReadUntilAsync("COUNT", "n"))[2].GetProperty("count").GetInt32());
        Assert.Equal(before + 2, Counter(relay.Host.Metrics.Render(), "relay_queries_replica_behind_total"));

        // Another client's REQ is answered by the lagging replica, which has only the first event;
        // the second, committed before the REQ, follows right after EOSE, once.
        var replicaAnswers = Counter(relay.Host.Metrics.Render(), "relay_queries_total{database=\"replica\"}");
        await using var reader = await relay.ConnectAsync();
        var stored = await reader.QueryIdsAsync("feed", $$"""{"authors":["{{signer.Pubkey}}"]}""");
        Assert.Equal([RelayClientExtensions.IdOf(first)], stored);
        Assert.Equal("second", (await reader.ReadUntilAsync("EVENT", "feed"))[2].GetProperty("content").GetString());
        Assert.Equal(replicaAnswers + 1, Counter(relay.Host.Metrics.Render(), "relay_queries_total{database=\"replica\"}"));

        // Replay resumes: the replica answers with both, and nothing arrives twice on any subscription.
        await ScalarAsync<object>(replica.Url, "SELECT pg_wal_replay_resume()");
        await CaughtUpAsync(primary, replica);
        await using var later = await relay.ConnectAsync();
        Assert.Equal(2, (await later.QueryIdsAsync("feed", $$"""{"authors":["{{signer.Pubkey}}"]}""")).Count);
        await writer.PublishAcceptedAsync(signer.Sign(1, "third"));
        foreach (var (client, sub) in new[] { (watcher, "live"), (reader, "feed"), (later, "feed") })
            Assert.Equal("third", (await client.ReadUntilAsync("EVENT", sub))[2].GetProperty("content").GetString());
    }

    [Fact]
    public async Task Under_writes_and_a_replica_that_stalls_and_resumes_every_subscription_gets_every_event_exactly_once()
    {
        await using var setup = await StartAsync();
        var (primary, replica, relay) = (setup.Primary, setup.Replica, setup.Relay);
        using var signer = EventSigner.Random();
        var run = Guid.NewGuid().ToString("N");
        var filter = $$"""{"kinds":[1],"#t":["{{run}}"],"limit":500}""";
        await using var writer = await relay.ConnectAsync();

        using var stop = new CancellationTokenSource();
        var stalling = Task.Run(async () =>
        {
            var random = new Random(12);
            for (var paused = false; !stop.IsCancellationRequested; paused = !paused)
            {
                await ScalarAsync<object>(replica.Url, paused ? "SELECT pg_wal_replay_resume()" : "SELECT pg_wal_replay_pause()");
                await Task.Delay(random.Next(20, 120));
            }
            await ScalarAsync<object>(replica.Url, "SELECT pg_wal_replay_resume()");
        });
        var published = new List<string>();
        var subscribers = new List<RelayClient>();
        try
        {
            for (var i = 0; i < 150; i++)
            {
                if (i % 10 == 5) subscribers.Add(await OpenAsync(relay, filter, $"s{i}"));
                var e = signer.Sign(1, $"event {i}", [["t", run]]);
                await writer.PublishAcceptedAsync(e);
                published.Add(RelayClientExtensions.IdOf(e));
            }
            stop.Cancel();
            await stalling;
            await writer.PublishAcceptedAsync(signer.Sign(1, "end", [["t", run]]));
            var metrics = relay.Host.Metrics.Render();
            Assert.True(Counter(metrics, "relay_queries_total{database=\"replica\"}") > 0, "the replica answered some REQs");
            Assert.True(Counter(metrics, "relay_queries_replica_caught_up_total") + Counter(metrics, "relay_queries_replica_behind_total") > 0,
                "some REQ met the replica behind (replay was paused half of the time)");
            for (var k = 0; k < subscribers.Count; k++)
            {
                var received = new List<string>();
                var (client, seen) = (subscribers[k], _seen[subscribers[k]]);
                received.AddRange(seen);
                while (true)
                {
                    var m = (await client.ReadUntilAsync("EVENT"))[2];
                    if (m.GetProperty("content").GetString() == "end") break;
                    received.Add(m.GetProperty("id").GetString()!);
                }
                // Stored, caught up and live together: every event, each once.
                Assert.Equal(published.Order(), received.Order());
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var s in subscribers) await s.DisposeAsync();
        }
    }

    private readonly Dictionary<RelayClient, List<string>> _seen = [];

    /// Opens a subscription and keeps the ids of the stored answer (before EOSE).
    private async Task<RelayClient> OpenAsync(TestRelay relay, string filter, string subId)
    {
        var client = await relay.ConnectAsync();
        _seen[client] = (await client.QueryAsync(subId, filter)).Select(e => e.GetProperty("id").GetString()!).ToList();
        return client;
    }

    [Fact]
    public async Task A_replica_that_is_down_is_skipped_and_taken_back_when_it_returns()
    {
        await using var setup = await StartAsync();
        var (primary, replica, relay) = (setup.Primary, setup.Replica, setup.Relay);
        using var signer = EventSigner.Random();
        await using var client = await relay.ConnectAsync();
        var e = signer.Sign(1, "hello");
        await client.PublishAcceptedAsync(e);
        var filter = $$"""{"authors":["{{signer.Pubkey}}"]}""";

        await replica.StopAsync();
        for (var i = 0; i < 5; i++)   // every REQ answered, by the primary
            Assert.Equal([RelayClientExtensions.IdOf(e)], await client.QueryIdsAsync($"down{i}", filter));
        var metrics = relay.Host.Metrics.Render();
        Assert.Equal(0, Counter(metrics, "relay_read_replicas_up"));
        var onReplica = Counter(metrics, "relay_queries_total{database=\"replica\"}");

        await replica.StartAgainAsync();
        await CaughtUpAsync(primary, replica);
        await Eventually.WaitForAsync(async () =>
        {
            Assert.Equal([RelayClientExtensions.IdOf(e)], await client.QueryIdsAsync("back", filter));
            return Counter(relay.Host.Metrics.Render(), "relay_queries_total{database=\"replica\"}") > onReplica;
        }, "a REQ answered by the replica again");
        Assert.Equal(1, Counter(relay.Host.Metrics.Render(), "relay_read_replicas_up"));
    }
}

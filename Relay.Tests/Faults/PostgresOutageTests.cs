using System.Text.Json;
using Npgsql;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Faults;

/// PostgreSQL really goes away: a cluster of the test's own stopped at once (as a crash would),
/// or the relay's connections killed with pg_terminate_backend. Never a false OK true; clear
/// `error:` answers; WebSockets stay open; service resumes by itself, with no leaked connections.
public sealed class PostgresOutageTests
{
    /// Publishes until the relay says OK true; every other answer on the way must be `error:`.
    private static async Task PublishUntilStoredAsync(RelayClient client, Func<string> next, List<string> refused)
    {
        for (var i = 0; i < 100; i++)
        {
            var e = next();
            var (accepted, message) = await client.PublishAsync(e);
            if (accepted) { Assert.Equal("", message); return; }
            Assert.StartsWith("error:", message);
            refused.Add(e);
            await Task.Delay(100);
        }
        Assert.Fail("the relay did not store an event again");
    }

    private static string Id(string json) => JsonDocument.Parse(json).RootElement.GetProperty("id").GetString()!;

    private static async Task<long> CountAsync(string url, string sql, params object[] args)
    {
        await using var conn = new NpgsqlConnection(Relay.Storage.Postgres.DatabaseUrl.Parse(url).ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var a in args) cmd.Parameters.AddWithValue(a);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task While_PostgreSQL_is_down_EVENTs_get_error_REQs_get_CLOSED_and_service_resumes_when_it_is_back()
    {
        await using var pg = await OwnPostgres.StartAsync();
        await using var relay = await TestRelay.StartAsync(o => o with { DatabaseUrl = pg.Url, DatabasePoolSize = 8 });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var before = s.Sign(1, "before");
        Assert.True((await client.PublishAsync(before)).Accepted);

        await pg.StopAsync();
        var during = s.Sign(1, "during");
        var (accepted, message) = await client.PublishAsync(during);
        Assert.False(accepted);
        Assert.StartsWith("error:", message);
        await client.SendAsync($"[\"REQ\",\"down\",{{\"authors\":[\"{s.Pubkey}\"]}}]");
        var closed = await client.ReadUntilAsync("CLOSED", "down");
        Assert.StartsWith("error:", closed[2].GetString());
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, client.State);

        await pg.StartAgainAsync();
        var refused = new List<string> { during };
        var n = 0;
        await PublishUntilStoredAsync(client, () => s.Sign(1, $"after {n++}"), refused);
        var stored = await client.QueryAsync("up", $"{{\"authors\":[\"{s.Pubkey}\"]}}");
        var ids = stored.Select(e => e.GetProperty("id").GetString()).ToHashSet();
        Assert.Contains(Id(before), ids);
        Assert.Equal(2, ids.Count);                                 // before, and the one that got OK true after
        Assert.DoesNotContain(refused.Select(Id), ids.Contains);   // nothing answered error: was stored

        // The pool holds no more connections than it may (broken ones were dropped, not leaked).
        Assert.InRange(await CountAsync(pg.Url, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid()"),
            0, relay.Options.DatabasePoolSize);
    }

    [Fact]
    public async Task Killed_database_connections_never_give_a_false_OK_and_the_relay_goes_on()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        Assert.True((await client.PublishAsync(s.Sign(1, "warm up"))).Accepted);
        Assert.Single(await client.QueryAsync("q", $"{{\"authors\":[\"{s.Pubkey}\"]}}"));

        var answered = new List<(string Event, bool Accepted)>();
        for (var round = 0; round < 3; round++)
        {
            await CountAsync(TestDatabase.AdminUrl,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", relay.Database.Name);
            for (var i = 0; i < 5; i++)
            {
                var e = s.Sign(1, $"round {round} event {i}");
                var (accepted, message) = await client.PublishAsync(e);
                if (!accepted) Assert.StartsWith("error:", message);
                answered.Add((e, accepted));
            }
        }
        var refused = new List<string>();
        var n = 0;
        await PublishUntilStoredAsync(client, () => s.Sign(1, $"last {n++}"), refused);

        // Exactly what got OK true is stored.
        var stored = (await client.QueryAsync("all", $"{{\"authors\":[\"{s.Pubkey}\"],\"limit\":500}}"))
            .Select(e => e.GetProperty("id").GetString()!).ToHashSet();
        foreach (var (e, accepted) in answered) Assert.Equal(accepted, stored.Contains(Id(e)));
        Assert.DoesNotContain(refused.Select(Id), stored.Contains);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, client.State);
    }
}

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

    [Fact]
    public async Task While_PostgreSQL_is_down_EVENTs_get_error_REQs_get_CLOSED_and_service_resumes_when_it_is_back()
    {
        await using var pg = await OwnPostgres.StartAsync();
        await using var relay = await TestRelay.StartAsync(o => o with { DatabaseUrl = pg.Url, DatabasePoolSize = 8, HotTierMb = 0 });
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
        Assert.Contains(FaultDatabase.Id(before), ids);
        Assert.Equal(2, ids.Count);                                 // before, and the one that got OK true after
        Assert.DoesNotContain(refused.Select(FaultDatabase.Id), ids.Contains);   // nothing answered error: was stored

        // The pool holds no more connections than it may (broken ones were dropped, not leaked).
        Assert.InRange(await FaultDatabase.ScalarAsync(pg.Url, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid()"),
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
            await FaultDatabase.ScalarAsync(TestDatabase.AdminUrl,
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
        foreach (var (e, accepted) in answered) Assert.Equal(accepted, stored.Contains(FaultDatabase.Id(e)));
        Assert.DoesNotContain(refused.Select(FaultDatabase.Id), stored.Contains);
        Assert.Equal(System.Net.WebSockets.WebSocketState.Open, client.State);
    }
}

/// The database turned read-only, or restarted while a client publishes as fast as it can.
public sealed class PostgresUnderLoadTests
{
    [Fact]
    public async Task A_read_only_database_gets_error_answers_and_nothing_is_acknowledged_until_it_is_writable()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        Assert.True((await client.PublishAsync(s.Sign(1, "writable"))).Accepted);

        // As a failed-over replica or a disk-full guard would: new sessions may only read.
        await FaultDatabase.ExecuteAsync(TestDatabase.AdminUrl, $"ALTER DATABASE {relay.Database.Name} SET default_transaction_read_only = on");
        await FaultDatabase.ExecuteAsync(TestDatabase.AdminUrl, $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{relay.Database.Name}'");
        var refused = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var e = s.Sign(1, $"read-only {i}");
            var (accepted, message) = await client.PublishAsync(e);
            Assert.False(accepted);
            Assert.StartsWith("error:", message);
            refused.Add(FaultDatabase.Id(e));
        }
        Assert.Single(await client.QueryAsync("reads", $"{{\"authors\":[\"{s.Pubkey}\"]}}"));   // reads still work

        await FaultDatabase.ExecuteAsync(TestDatabase.AdminUrl, $"ALTER DATABASE {relay.Database.Name} SET default_transaction_read_only = off");
        await FaultDatabase.ExecuteAsync(TestDatabase.AdminUrl, $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{relay.Database.Name}'");
        var stored = false;
        for (var i = 0; i < 50 && !stored; i++)
        {
            var (accepted, message) = await client.PublishAsync(s.Sign(1, $"writable again {i}"));
            if (!accepted) Assert.StartsWith("error:", message);
            stored = accepted;
        }
        Assert.True(stored);
        Assert.DoesNotContain(refused, (await FaultDatabase.StoredIdsAsync(relay.Database.Url)).Contains);
    }

    [Fact]
    public async Task A_database_restarted_under_load_never_loses_an_acknowledged_event()
    {
        await using var pg = await OwnPostgres.StartAsync();
        await using var relay = await TestRelay.StartAsync(o => o with { DatabaseUrl = pg.Url });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var events = Enumerable.Range(0, 6000).Select(i => s.Sign(1, $"load {i}")).ToList();
        var expected = int.MaxValue;   // set once the sender stops
        var answers = new Dictionary<string, (bool Accepted, string Message)>();
        var restarted = 0;
        Task restart = Task.CompletedTask;
        var reading = Task.Run(async () =>
        {
            while (answers.Count < Volatile.Read(ref expected) && await client.ReceiveAsync(TimeSpan.FromSeconds(60)) is { } m)
            {
                if (m[0].GetString() != "OK") continue;
                answers[m[1].GetString()!] = (m[2].GetBoolean(), m[3].GetString()!);
                if (answers.Count == 300 && Interlocked.Exchange(ref restarted, 1) == 0)
                    restart = Task.Run(async () => { await pg.StopAsync(); await Task.Delay(500); await pg.StartAgainAsync(); });
            }
        });
        // Keep the load on until the database is back, so the restart lands in the middle of it.
        var sent = 0;
        while (sent < events.Count && (sent < 1000 || Volatile.Read(ref restarted) == 0 || !restart.IsCompleted))
            await client.SendEventAsync(events[sent++]);
        events.RemoveRange(sent, events.Count - sent);
        Volatile.Write(ref expected, sent);
        await client.SendAsync("not json");   // a NOTICE wakes the reader if it already has every answer
        await reading;
        await restart;
        Assert.Contains(answers.Values, a => !a.Accepted);   // the outage met the load

        Assert.Equal(1, restarted);
        Assert.Equal(events.Count, answers.Count);                      // every EVENT answered
        Assert.All(answers.Values.Where(a => !a.Accepted), a => Assert.StartsWith("error:", a.Message));
        var stored = await FaultDatabase.StoredIdsAsync(pg.Url);
        foreach (var (id, (accepted, _)) in answers)
            if (accepted) Assert.Contains(id, stored);                 // nothing acknowledged is lost
        Assert.Contains(answers.Values, a => a.Accepted);

        // And it stores again once the database is back.
        var back = false;
        for (var i = 0; i < 100 && !back; i++)
        {
            var (accepted, message) = await client.PublishAsync(s.Sign(1, $"after the restart {i}"));
            if (!accepted) Assert.StartsWith("error:", message);
            back = accepted;
            if (!back) await Task.Delay(100);
        }
        Assert.True(back);
    }
}

/// What the operator reads about an outage: one line when it starts, one when it ends.
public sealed class PostgresOutageLogTests
{
    [Fact]
    public async Task A_relay_process_logs_a_database_outage_once_and_its_end_once()
    {
        await using var pg = await OwnPostgres.StartAsync();
        await using var relay = await RelayProcess.StartAsync(new Dictionary<string, string> { ["DATABASE_URL"] = pg.Url, ["HOT_TIER_MB"] = "0" });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        Assert.True((await client.PublishAsync(s.Sign(1, "before"))).Accepted);

        await pg.StopAsync();
        for (var i = 0; i < 10; i++) Assert.False((await client.PublishAsync(s.Sign(1, $"during {i}"))).Accepted);
        for (var i = 0; i < 3; i++)
        {
            await client.SendAsync($"[\"REQ\",\"q{i}\",{{\"authors\":[\"{s.Pubkey}\"]}}]");
            await client.ReadUntilAsync("CLOSED", $"q{i}");
        }
        await pg.StartAgainAsync();
        var stored = false;
        for (var i = 0; i < 100 && !stored; i++)
        {
            stored = (await client.PublishAsync(s.Sign(1, $"after {i}"))).Accepted;
            if (!stored) await Task.Delay(100);
        }
        Assert.True(stored);
        Assert.Single(await client.QueryAsync("again", $"{{\"authors\":[\"{s.Pubkey}\"],\"limit\":1}}"));

        // Writes and queries each: one line when they start failing, one when they work again.
        for (var i = 0; i < 50 && !relay.Log.Contains("reachable again for queries"); i++) await Task.Delay(100);   // the console logger writes from a queue
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(relay.Log, "Database unreachable or refusing writes"));
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(relay.Log, "Database unreachable or refusing queries"));
        Assert.Matches(@"Database reachable again for writes \((1\d|[2-9]\d|\d{3,}) operation\(s\) failed meanwhile\)", relay.Log);
        Assert.Matches(@"Database reachable again for queries \(3 operation\(s\) failed meanwhile\)", relay.Log);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(relay.Log, "Database reachable again").Count);
        relay.Signal("TERM");
        Assert.Equal(0, await relay.ExitCodeAsync(TimeSpan.FromSeconds(15)));
    }
}

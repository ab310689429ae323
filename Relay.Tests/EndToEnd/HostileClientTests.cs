using Relay.Server.Transport;
using Relay.Storage.Model;
using Relay.Storage.Postgres;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// What a probing attacker found: clients that ask for a lot and never read, and handshakes
/// RFC 6455 says to refuse.
public sealed class HostileClientTests
{
    [Fact]
    public async Task Clients_that_send_big_REQs_and_never_read_do_not_hold_up_other_clients_reads()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxConcurrentQueries = 2, HotTierMb = 0 });
        using var s = EventSigner.Random();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var stored = Enumerable.Range(0, 5000).Select(i => s.SignEvent(1, $"small {i}", createdAt: now - i)).ToList();
        await using (var writer = new EventWriter(relay.Host.Database))
            await writer.WriteAsync(stored);

        // 20 raw connections, each 10 REQs of 20 filters of 500, then they stop reading.
        var filters = string.Join(",", Enumerable.Range(0, 20).Select(i => $$"""{"until":{{now - i}},"limit":500}"""));
        var hostile = new List<RawWebSocket>();
        for (var c = 0; c < 20; c++)
        {
            var ws = await RawWebSocket.OpenAsync(relay.Port);
            for (var r = 0; r < 10; r++) await ws.SendTextAsync($"[\"REQ\",\"h{r}\",{filters}]");
            hostile.Add(ws);
        }
        await Task.Delay(500);

        // A normal client's REQ by id is answered (each read waits at most 10 s; before the fix,
        // 20 such clients delayed it by about 100 s, one stalled query slot after another).
        await using var client = await relay.ConnectAsync();
        var target = stored[1234];
        Assert.Equal([target.Id], await client.QueryIdsAsync("one", $$"""{"ids":["{{target.Id}}"]}"""));
        await client.PublishAcceptedAsync(s.Sign(1, "writes still work"));
        foreach (var ws in hostile) await ws.DisposeAsync();
    }

    [Theory]
    [InlineData("HTTP/1.0", "GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")]
    [InlineData("no Host", "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")]
    [InlineData("two keys", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 13\r\n\r\n")]
    public async Task Upgrade_that_RFC_6455_does_not_allow_gets_400(string name, string request)
    {
        _ = name;
        await using var relay = await TestRelay.StartAsync();
        var response = await RawHttp.SendAsync(relay.Port, request);
        Assert.Equal(400, response.Status);
    }

    [Theory]
    [InlineData(20100UL, 20000, 20000)]
    [InlineData(1024UL, 20000, 1024 - 36 - OpenFileLimit.Reserve)]
    [InlineData(1_048_576UL, 20000, 20000)]
    public void Connections_are_capped_below_the_open_file_limit_and_the_log_says_so(ulong limit, int configured, int expected)
    {
        string? said = null;
        var cap = OpenFileLimit.Cap(configured, limit, 36, m => said = m);
        Assert.Equal(expected, cap);
        Assert.Equal(expected < configured, said is not null);
    }

    [Fact]
    public void The_soft_open_file_limit_is_raised_to_the_hard_one()
    {
        var limit = OpenFileLimit.Raise();
        Assert.NotNull(limit);
        // "Max open files  <soft>  <hard>  files"
        var columns = File.ReadAllLines("/proc/self/limits").First(l => l.StartsWith("Max open files")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(columns[4], columns[3]);
    }
}

/// A query that fails must not leave a subscription behind.
public sealed class FailedQueryTests
{
    [Fact]
    public async Task REQ_whose_query_fails_is_closed_with_error_and_no_longer_counts_against_MAX_SUBSCRIPTIONS()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxSubscriptions = 1, HotTierMb = 0 });
        await using var client = await relay.ConnectAsync();
        await using (var conn = await relay.Host.Database.OpenConnectionAsync())
        await using (var cmd = new Npgsql.NpgsqlCommand("ALTER TABLE events RENAME TO events_away", conn))
            await cmd.ExecuteNonQueryAsync();

        Assert.StartsWith("error:", await client.ReqClosedAsync("a", """{"kinds":[1]}"""));
        // Not "rate-limited: too many open subscriptions": the failed one is gone.
        Assert.StartsWith("error:", await client.ReqClosedAsync("b", """{"kinds":[1]}"""));

        await using (var conn = await relay.Host.Database.OpenConnectionAsync())
        await using (var cmd = new Npgsql.NpgsqlCommand("ALTER TABLE events_away RENAME TO events", conn))
            await cmd.ExecuteNonQueryAsync();
        Assert.Empty(await client.QueryIdsAsync("c", """{"kinds":[1]}"""));
    }
}

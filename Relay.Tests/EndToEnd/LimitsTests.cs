using System.Net;
using System.Text.Json;
using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// Limits operators set (each published in NIP-11), rate limits, and per-address limits that a
/// forged X-Forwarded-For can't dodge.
public sealed class LimitsTests
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static async Task<JsonElement> LimitationAsync(TestRelay relay)
    {
        var info = await RawHttp.RequestAsync(relay.Port, "GET", "/", "Accept: application/nostr+json\r\n");
        return JsonDocument.Parse(info.BodyText).RootElement.Clone();
    }

    [Fact]
    public async Task Event_limits_are_enforced_with_invalid_and_published_in_NIP_11()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxEventTags = 3, MaxContentLength = 10, MaxPastSeconds = 3600, MaxFutureSeconds = 60 });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();

        async Task Refused(string json, string reason)
        {
            var (ok, message) = await client.PublishAsync(json);
            Assert.False(ok, reason);
            Assert.StartsWith("invalid:", message);
            Assert.Contains(reason, message);
        }
        await Refused(s.Sign(1, "x", [["t", "a"], ["t", "b"], ["t", "c"], ["t", "d"]]), "tags");
        await Refused(s.Sign(1, "more than ten bytes"), "content");
        await Refused(s.Sign(1, "old", createdAt: Now - 7200), "past");
        await Refused(s.Sign(1, "ahead", createdAt: Now + 600), "future");
        await client.PublishAcceptedAsync(s.Sign(1, "fine", [["t", "a"]]));

        var limits = (await LimitationAsync(relay)).GetProperty("limitation");
        Assert.Equal(3, limits.GetProperty("max_event_tags").GetInt32());
        Assert.Equal(10, limits.GetProperty("max_content_length").GetInt32());
        Assert.Equal(3600, limits.GetProperty("created_at_lower_limit").GetInt32());
        Assert.Equal(60, limits.GetProperty("created_at_upper_limit").GetInt32());
    }

    [Fact]
    public async Task Old_events_are_accepted_by_default_so_archives_import()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        await client.PublishAcceptedAsync(s.Sign(1, "from 2021", createdAt: 1_609_459_200));
    }

    [Fact]
    public async Task Filters_with_too_many_ids_or_authors_are_closed()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxIdsPerFilter = 2, MaxAuthorsPerFilter = 2 });
        await using var client = await relay.ConnectAsync();
        var three = string.Join(",", Enumerable.Range(0, 3).Select(i => $"\"{new string((char)('a' + i), 64)}\""));
        Assert.StartsWith("invalid: too many ids", await client.ReqClosedAsync("i", $$"""{"ids":[{{three}}]}"""));
        Assert.StartsWith("invalid: too many authors", await client.ReqClosedAsync("a", $$"""{"authors":[{{three}}]}"""));
        var limits = (await LimitationAsync(relay)).GetProperty("limitation");
        Assert.Equal(2, limits.GetProperty("max_ids_per_filter").GetInt32());
    }

    [Fact]
    public async Task Proof_of_work_below_the_minimum_is_refused_with_pow()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MinPowDifficulty = 8 });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();

        // Mine until the id starts with two zero hex digits (8 bits), as NIP-13 clients do.
        string mined = "", unmined = "";
        for (var nonce = 0; mined.Length == 0 || unmined.Length == 0; nonce++)
        {
            var e = s.Sign(1, "work", [["nonce", nonce.ToString(), "8"]], Now);
            if (IdOf(e).StartsWith("00")) mined = e; else unmined = e;
        }
        var (ok, message) = await client.PublishAsync(unmined);
        Assert.False(ok);
        Assert.StartsWith("pow:", message);
        await client.PublishAcceptedAsync(mined);
        Assert.Equal(8, (await LimitationAsync(relay)).GetProperty("limitation").GetProperty("min_pow_difficulty").GetInt32());
    }

    [Fact]
    public async Task Events_over_the_per_address_rate_are_rate_limited_and_the_admin_is_exempt()
    {
        using var admin = EventSigner.Random();
        await using var relay = await TestRelay.StartAsync(o => o with { EventsPerSecondPerIp = 1, RateLimitBurstSeconds = 3, AdminPubkey = admin.Pubkey });
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();

        var answers = new List<(bool Ok, string Message)>();
        for (var i = 0; i < 6; i++) answers.Add(await client.PublishAsync(s.Sign(1, $"burst {i}")));
        Assert.True(answers.Take(3).All(a => a.Ok));
        Assert.Contains(answers.Skip(3), a => !a.Ok && a.Message.StartsWith("rate-limited:"));

        // Claiming the admin's pubkey is not enough (anyone can); proving it with AUTH is.
        var (claimed, why) = await client.PublishAsync(admin.Sign(1, "not proven"));
        Assert.False(claimed);
        Assert.StartsWith("rate-limited:", why);
        await client.AuthenticateAsAsync(admin, relay.Options.RelayUrl);
        for (var i = 0; i < 6; i++) await client.PublishAcceptedAsync(admin.Sign(1, $"admin {i}"));
    }

    [Fact]
    public async Task Events_over_the_per_author_rate_are_rate_limited_and_forgeries_do_not_drain_the_authors_budget()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { EventsPerSecondPerPubkey = 1, RateLimitBurstSeconds = 3 });
        await using var client = await relay.ConnectAsync();
        using var victim = EventSigner.Random();

        // Forged events in the victim's name fail verification before the author's budget is charged.
        for (var i = 0; i < 10; i++)
        {
            var (ok, message) = await client.PublishAsync(FlipHexChar(victim.Sign(1, $"forged {i}"), "sig"));
            Assert.False(ok);
            Assert.StartsWith("invalid:", message);
        }
        var answers = new List<(bool Ok, string Message)>();
        for (var i = 0; i < 6; i++) answers.Add(await client.PublishAsync(victim.Sign(1, $"real {i}")));
        Assert.True(answers.Take(3).All(a => a.Ok), string.Join("; ", answers));
        Assert.Contains(answers.Skip(3), a => !a.Ok && a.Message.StartsWith("rate-limited: too many events from this pubkey"));
    }

    [Fact]
    public async Task A_client_that_keeps_going_over_its_limit_is_closed_with_a_reason()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { ReqsPerSecondPerIp = 1, RateLimitBurstSeconds = 1, RateLimitCloseAfter = 5 });
        await using var client = await relay.ConnectAsync();
        for (var i = 0; i < 20; i++) await client.SendAsync($"[\"REQ\",\"r{i}\",{{\"kinds\":[1],\"limit\":1}}]");
        while (await client.ReceiveAsync() is { } m)
            Assert.True(m[0].GetString() is "EOSE" or "CLOSED", m.GetRawText());
        Assert.Equal(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation, client.CloseStatus);
        Assert.StartsWith("rate-limited:", client.CloseDescription);
    }

    [Fact]
    public async Task Connections_per_address_past_the_limit_get_429()
    {
        await using var relay = await TestRelay.StartAsync(o => o with { MaxConnectionsPerIp = 2 });
        await using var a = await relay.ConnectAsync();
        await using var b = await relay.ConnectAsync();
        await using var third = await RawWebSocket.ConnectTcpAsync(relay.Port);
        await third.SendAsync(RawWebSocket.UpgradeRequest(relay.Port));
        Assert.Equal(429, (await third.ReadHttpHeadAsync()).Status);

        // A slot frees when a connection ends.
        await a.CloseAsync();
        for (var i = 0; i < 50; i++)
        {
            try { await using var again = await relay.ConnectAsync(); return; }
            catch (System.Net.WebSockets.WebSocketException) { await Task.Delay(50); }
        }
        Assert.Fail("no connection slot freed after a close");
    }

    [Fact]
    public async Task Forwarded_address_counts_only_from_a_trusted_proxy()
    {
        // Loopback is not a trusted proxy: the forged header is ignored, both count as 127.0.0.1.
        await using (var relay = await TestRelay.StartAsync(o => o with { MaxConnectionsPerIp = 1 }))
        {
            await using var first = await RawWebSocket.ConnectTcpAsync(relay.Port);
            await first.SendAsync(WithForwardedFor(relay.Port, "203.0.113.1"));
            Assert.Equal(101, (await first.ReadHttpHeadAsync()).Status);
            await using var forged = await RawWebSocket.ConnectTcpAsync(relay.Port);
            await forged.SendAsync(WithForwardedFor(relay.Port, "203.0.113.2"));
            Assert.Equal(429, (await forged.ReadHttpHeadAsync()).Status);
        }
        // Loopback trusted (a proxy on this host): each forwarded client is counted on its own.
        await using (var relay = await TestRelay.StartAsync(o => o with
        {
            MaxConnectionsPerIp = 1,
            TrustedProxies = [Relay.Server.Policies.AddressRange.TryParse("127.0.0.0/8", out var r) ? r : default],
        }))
        {
            await using var first = await RawWebSocket.ConnectTcpAsync(relay.Port);
            await first.SendAsync(WithForwardedFor(relay.Port, "203.0.113.1"));
            Assert.Equal(101, (await first.ReadHttpHeadAsync()).Status);
            await using var second = await RawWebSocket.ConnectTcpAsync(relay.Port);
            await second.SendAsync(WithForwardedFor(relay.Port, "203.0.113.2"));
            Assert.Equal(101, (await second.ReadHttpHeadAsync()).Status);
            await using var again = await RawWebSocket.ConnectTcpAsync(relay.Port);
            await again.SendAsync(WithForwardedFor(relay.Port, "203.0.113.1"));
            Assert.Equal(429, (await again.ReadHttpHeadAsync()).Status);
        }
    }

    [Fact]
    public async Task X_Real_IP_from_a_trusted_proxy_names_the_client()
    {
        await using var relay = await TestRelay.StartAsync(o => o with
        {
            MaxConnectionsPerIp = 1,
            TrustedProxies = [Relay.Server.Policies.AddressRange.TryParse("127.0.0.1", out var r) ? r : default],
        });
        string WithRealIp(string ip) => RawWebSocket.UpgradeRequest(relay.Port).Replace("\r\n\r\n", $"\r\nX-Real-IP: {ip}\r\n\r\n");
        await using var a = await RawWebSocket.ConnectTcpAsync(relay.Port);
        await a.SendAsync(WithRealIp("198.51.100.1"));
        Assert.Equal(101, (await a.ReadHttpHeadAsync()).Status);
        await using var b = await RawWebSocket.ConnectTcpAsync(relay.Port);
        await b.SendAsync(WithRealIp("198.51.100.2"));
        Assert.Equal(101, (await b.ReadHttpHeadAsync()).Status);
        await using var c = await RawWebSocket.ConnectTcpAsync(relay.Port);
        await c.SendAsync(WithRealIp("198.51.100.1"));
        Assert.Equal(429, (await c.ReadHttpHeadAsync()).Status);
    }

    private static string WithForwardedFor(int port, string client) =>
        RawWebSocket.UpgradeRequest(port).Replace("\r\n\r\n", $"\r\nX-Forwarded-For: {client}\r\n\r\n");

    [Fact]
    public async Task NIP_11_lists_what_works_and_names_the_software_by_URL()
    {
        await using var relay = await TestRelay.StartAsync();
        var doc = await LimitationAsync(relay);
        Assert.Equal([1, 9, 11, 13, 40, 42, 45, 62, 70], doc.GetProperty("supported_nips").EnumerateArray().Select(e => e.GetInt32()));
        Assert.True(Uri.TryCreate(doc.GetProperty("software").GetString(), UriKind.Absolute, out var url) && url.Scheme == "https");
    }
}

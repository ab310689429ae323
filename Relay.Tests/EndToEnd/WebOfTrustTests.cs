using Relay.Storage.Model;
using Relay.Storage.Postgres;
using Relay.Tests.Support;

namespace Relay.Tests.EndToEnd;

/// The web of trust as an operator runs it: a follow graph of depths 1–4 stored in the relay,
/// follows and unfollows published through it, and a bootstrap from a second relay.
public sealed class WebOfTrustTests
{
    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// admin → p1 → p2 → p3 → p4 → p5: p_n is at depth n.
    private sealed class Chain : IDisposable
    {
        public readonly EventSigner Admin = EventSigner.Random();
        public readonly EventSigner[] P = Enumerable.Range(0, 5).Select(_ => EventSigner.Random()).ToArray();
        public EventSigner At(int depth) => depth == 0 ? Admin : P[depth - 1];
        public NostrEvent ContactList(int depth, long createdAt, params EventSigner[] follows) =>
            At(depth).SignEvent(3, "", follows.Select(f => new[] { "p", f.Pubkey }).ToArray(), createdAt);
        public List<NostrEvent> Lists(long createdAt) => Enumerable.Range(0, 5).Select(d => ContactList(d, createdAt, At(d + 1))).ToList();
        public void Dispose() { Admin.Dispose(); foreach (var p in P) p.Dispose(); }
    }

    private static async Task<TestRelay> StartWotAsync(Chain chain, int depth, TestDatabase? db = null, string[]? seeds = null) =>
        await TestRelay.StartAsync(o => o with
        {
            WotEnabled = true,
            AdminPubkey = chain.Admin.Pubkey,
            WotDepth = depth,
            WotSeedRelays = seeds ?? [],
        }, db);

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (var i = 0; i < 200 && !condition(); i++) await Task.Delay(25);
        Assert.True(condition(), what);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Pubkeys_within_WOT_DEPTH_follows_of_the_admin_may_write_and_others_are_blocked(int depth)
    {
        using var chain = new Chain();
        await using var db = await TestDatabase.CreateAsync();
        await using (var seed = await TestRelay.StartAsync(sharedDatabase: db))
        await using (var writer = new EventWriter(seed.Host.Database))
            await writer.WriteAsync(chain.Lists(Now - 100));

        await using var relay = await StartWotAsync(chain, depth, db);
        await using var client = await relay.ConnectAsync();
        for (var d = 0; d <= 5; d++)
        {
            var (ok, message) = await client.PublishAsync(chain.At(d).Sign(1, $"depth {d}"));
            if (d <= depth) Assert.True(ok, $"depth {d} refused at WOT_DEPTH {depth}: {message}");
            else
            {
                Assert.False(ok, $"depth {d} accepted at WOT_DEPTH {depth}");
                Assert.Equal("blocked: not in this relay's web of trust", message);
            }
        }
        using var stranger = EventSigner.Random();
        Assert.False((await client.PublishAsync(stranger.Sign(1, "hi"))).Accepted);
    }

    [Fact]
    public async Task Follows_and_unfollows_published_through_the_relay_change_who_may_write_without_a_restart()
    {
        using var chain = new Chain();
        await using var relay = await StartWotAsync(chain, 2);
        await using var client = await relay.ConnectAsync();
        var wot = relay.Host.WebOfTrust!;
        var (p1, p2, newcomer) = (chain.P[0], chain.P[1], EventSigner.Random());

        // An empty relay trusts only the admin; the admin's own contact list is how the graph grows.
        Assert.False((await client.PublishAsync(p1.Sign(1, "too early"))).Accepted);
        await client.PublishAcceptedAsync(chain.Admin.Sign(3, "", [["p", p1.Pubkey]], Now - 30));
        await WaitUntilAsync(() => wot.IsTrusted(Key32.Parse(p1.Pubkey)), "p1 trusted after the admin follows it");
        await client.PublishAcceptedAsync(p1.Sign(1, "now trusted"));

        // p1 (trusted) publishes its list: p2 is at depth 2.
        await client.PublishAcceptedAsync(p1.Sign(3, "", [["p", p2.Pubkey]], Now - 20));
        await WaitUntilAsync(() => wot.IsTrusted(Key32.Parse(p2.Pubkey)), "p2 trusted through p1");
        await client.PublishAcceptedAsync(p2.Sign(1, "depth 2"));

        // The admin follows the newcomer and unfollows p1: p1 and what only p1 vouched for go.
        await client.PublishAcceptedAsync(chain.Admin.Sign(3, "", [["p", newcomer.Pubkey]], Now - 10));
        await WaitUntilAsync(() => !wot.IsTrusted(Key32.Parse(p1.Pubkey)), "p1 untrusted after the unfollow");
        Assert.False(wot.IsTrusted(Key32.Parse(p2.Pubkey)));
        var (ok, message) = await client.PublishAsync(p2.Sign(1, "no longer"));
        Assert.False(ok);
        Assert.StartsWith("blocked:", message);
        await client.PublishAcceptedAsync(newcomer.Sign(1, "welcome"));
        newcomer.Dispose();
    }

    [Fact]
    public async Task A_contact_list_its_author_deletes_stops_vouching_for_anyone()
    {
        using var chain = new Chain();
        await using var relay = await StartWotAsync(chain, 2);
        await using var client = await relay.ConnectAsync();
        var wot = relay.Host.WebOfTrust!;
        await client.PublishAcceptedAsync(chain.Admin.Sign(3, "", [["p", chain.P[0].Pubkey]], Now - 30));
        await WaitUntilAsync(() => wot.IsTrusted(chain.P[0].PubkeyKeyOf()), "p1 trusted");
        await client.PublishAcceptedAsync(chain.P[0].Sign(3, "", [["p", chain.P[1].Pubkey]], Now - 20));
        await WaitUntilAsync(() => wot.IsTrusted(chain.P[1].PubkeyKeyOf()), "p2 trusted through p1");

        // p1 deletes its contact list (NIP-09, here by `a`; by `e` below): p2 loses the only voucher it had.
        await client.PublishAcceptedAsync(chain.P[0].Sign(5, "", [["a", $"3:{chain.P[0].Pubkey}:"]], Now - 10));
        await WaitUntilAsync(() => !wot.IsTrusted(chain.P[1].PubkeyKeyOf()), "p2 untrusted once p1's list is deleted");
        Assert.True(wot.IsTrusted(chain.P[0].PubkeyKeyOf()));

        var again = chain.P[0].Sign(3, "", [["p", chain.P[2].Pubkey]], Now - 5);
        await client.PublishAcceptedAsync(again);
        await WaitUntilAsync(() => wot.IsTrusted(chain.P[2].PubkeyKeyOf()), "p3 trusted through p1's new list");
        await client.PublishAcceptedAsync(chain.P[0].Sign(5, "", [["e", RelayClientExtensions.IdOf(again)]], Now - 1));
        await WaitUntilAsync(() => !wot.IsTrusted(chain.P[2].PubkeyKeyOf()), "p3 untrusted once p1's list is deleted by id");
    }

    [Fact]
    public async Task WoT_set_bootstraps_from_a_seed_relay_level_by_level()
    {
        using var chain = new Chain();
        // The lists are written straight into the seed's database, behind its hot tier's back.
        await using var seed = await TestRelay.StartAsync(o => o with { HotTierMb = 0 });
        await using (var writer = new EventWriter(seed.Host.Database))
            await writer.WriteAsync(chain.Lists(Now - 100));

        await using var relay = await StartWotAsync(chain, 3, seeds: [seed.Url.ToString()]);
        var wot = relay.Host.WebOfTrust!;
        await WaitUntilAsync(() => wot.IsTrusted(Key32.Parse(chain.P[2].Pubkey)), "depth 3 trusted from the seed's lists");
        Assert.False(wot.IsTrusted(Key32.Parse(chain.P[3].Pubkey)));

        await using var client = await relay.ConnectAsync();
        await client.PublishAcceptedAsync(chain.P[2].Sign(1, "depth 3, learned from the seed"));
        // The lists were verified and stored here too.
        Assert.Single(await client.QueryAsync("l", $$"""{"kinds":[3],"authors":["{{chain.P[1].Pubkey}}"]}"""));
    }

    [Fact]
    public async Task The_web_of_trust_may_skip_the_per_author_rate_limit()
    {
        using var chain = new Chain();
        await using var relay = await TestRelay.StartAsync(o => o with
        {
            WotEnabled = true, AdminPubkey = chain.Admin.Pubkey, EventsPerSecondPerPubkey = 1, RateLimitBurstSeconds = 1, RateLimitExemptWot = true,
        });
        await using var client = await relay.ConnectAsync();
        await client.PublishAcceptedAsync(chain.Admin.Sign(3, "", [["p", chain.P[0].Pubkey]], Now - 10));
        await WaitUntilAsync(() => relay.Host.WebOfTrust!.IsTrusted(chain.P[0].PubkeyKeyOf()), "p1 trusted");
        for (var i = 0; i < 5; i++) await client.PublishAcceptedAsync(chain.P[0].Sign(1, $"trusted {i}"));
    }

    [Fact]
    public async Task Contact_lists_from_the_web_of_trust_pass_the_per_author_rate_limit_so_the_graph_can_grow()
    {
        using var chain = new Chain();
        await using var relay = await TestRelay.StartAsync(o => o with
        {
            WotEnabled = true, AdminPubkey = chain.Admin.Pubkey, EventsPerSecondPerPubkey = 1, RateLimitBurstSeconds = 1,
        });
        await using var client = await relay.ConnectAsync();
        await client.PublishAcceptedAsync(chain.Admin.Sign(3, "", [["p", chain.P[0].Pubkey]], Now - 10));
        await WaitUntilAsync(() => relay.Host.WebOfTrust!.IsTrusted(chain.P[0].PubkeyKeyOf()), "p1 trusted");

        for (var i = 0; i < 4; i++) await client.PublishAcceptedAsync(chain.P[0].Sign(3, "", [["p", chain.P[1 + i].Pubkey]], Now - 5 + i));
        var notes = new List<bool>();
        for (var i = 0; i < 4; i++) notes.Add((await client.PublishAsync(chain.P[0].Sign(1, $"note {i}"))).Accepted);
        Assert.Contains(false, notes);   // its other events still meet the limit
    }

    [Fact]
    public async Task A_seed_relay_that_is_down_is_skipped_and_start_up_goes_on()
    {
        using var chain = new Chain();
        await using var relay = await StartWotAsync(chain, 2, seeds: ["ws://127.0.0.1:9"]);
        await using var client = await relay.ConnectAsync();
        await client.PublishAcceptedAsync(chain.Admin.Sign(1, "the admin is always trusted"));
    }

    [Fact]
    public async Task NIP_11_says_writes_are_restricted_when_WoT_is_on()
    {
        using var chain = new Chain();
        await using var relay = await StartWotAsync(chain, 2);
        var info = await RawHttp.RequestAsync(relay.Port, "GET", "/", "Accept: application/nostr+json\r\n");
        var doc = System.Text.Json.JsonDocument.Parse(info.BodyText).RootElement;
        Assert.True(doc.GetProperty("limitation").GetProperty("restricted_writes").GetBoolean());
        var metrics = (await RawHttp.RequestAsync(relay.Port, "GET", "/metrics")).BodyText;
        Assert.Contains("relay_wot_trusted_pubkeys{depth=\"0\"} 1\n", metrics);
        Assert.Contains("relay_wot_trusted_pubkeys{depth=\"2\"} 0\n", metrics);
    }

    [Fact]
    public async Task WOT_READ_serves_only_clients_authenticated_as_a_trusted_pubkey()
    {
        using var chain = new Chain();
        await using var relay = await TestRelay.StartAsync(o => o with { WotEnabled = true, AdminPubkey = chain.Admin.Pubkey, WotRead = true });
        await using var client = await relay.ConnectAsync();
        using var stranger = EventSigner.Random();

        Assert.StartsWith("auth-required:", await client.ReqClosedAsync("a", """{"kinds":[1]}"""));
        await client.AuthenticateAsAsync(stranger, relay.Options.RelayUrl);
        Assert.StartsWith("restricted:", await client.ReqClosedAsync("b", """{"kinds":[1]}"""));
        await client.AuthenticateAsAsync(chain.Admin, relay.Options.RelayUrl);
        Assert.Empty(await client.QueryIdsAsync("c", """{"kinds":[1]}"""));
    }
}

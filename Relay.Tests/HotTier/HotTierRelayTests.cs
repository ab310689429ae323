using System.Globalization;
using System.Text;
using System.Text.Json;
using Relay.Server.Configuration;
using Relay.Storage.Model;
using Relay.Storage.Postgres;
using Relay.Tests.Support;

namespace Relay.Tests.HotTier;

/// Two relay processes share one database through Redis, each with a hot tier small enough that
/// its horizon moves. Random events (every kind class, deletions, requests to vanish, expirations)
/// go to either relay; then random REQs of one to three filters, asked of both relays over
/// WebSocket, must get exactly PostgreSQL's answer, in order. Then Redis goes down in the middle
/// of writes (the tiers step aside, PostgreSQL answers), comes back (the tiers reload and catch
/// up), and one relay restarts: the answers stay PostgreSQL's. Set RELAY_TEST_SEED to replay.
public sealed class HotTierRelayTests
{
    private static readonly int[] KindPool = [1, 1, 1, 7, 0, 3, 30023, 30023, 10002, 5, 5];   // no private kinds: PostgreSQL's answer is everyone's

    [Fact]
    public async Task Two_relays_sharing_a_database_answer_REQs_from_memory_exactly_as_PostgreSQL_through_a_Redis_outage_and_a_restart()
    {
        var seed = Environment.GetEnvironmentVariable("RELAY_TEST_SEED") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        var rng = new Random(seed);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var @base = now - 600;
        var signers = Enumerable.Range(0, 6).Select(i => EventSigner.FromSeed($"tier-relay-{seed}-{i}")).ToArray();
        var authors = signers.Select(a => a.Pubkey).ToArray();
        var written = new List<NostrEvent>();
        await using var redis = await OwnRedis.StartAsync();
        await using var db = await TestDatabase.CreateAsync();
        var channel = "tier:" + Guid.NewGuid().ToString("N");
        Func<RelayOptions, RelayOptions> tierOn = o => o with { RedisUrl = redis.Url, RedisChannel = channel, HotTierBytes = 40_000 };
        var a = await TestRelay.StartAsync(o => tierOn(o), db);
        var b = await TestRelay.StartAsync(o => tierOn(o), db);
        await using var data = db.OpenDataSource();
        var fromMemory = 0;
        var asked = 0;
        try
        {
            await using var toA = await a.ConnectAsync();
            await using var toB = await b.ConnectAsync();

            async Task WriteAsync(int count, bool onlyA = false)
            {
                for (var i = 0; i < count; i++)
                {
                    var signer = signers[rng.Next(signers.Length)];
                    var kind = KindPool[rng.Next(KindPool.Length)];
                    if (rng.Next(40) == 0) kind = 62;
                    var e = signer.SignEvent(kind, $"c{rng.Next(1000)}", HotTierDifferentialTests.Tags(rng, kind, signer.Pubkey, authors, written, now), @base + written.Count / 4 + rng.Next(0, 20));
                    var (ok, _) = await (onlyA || rng.Next(2) == 0 ? toA : toB).PublishAsync(Encoding.UTF8.GetString(e.Raw));
                    if (ok) written.Add(e);
                }
            }

            async Task CompareAsync(TestRelay relay, RelayClient client, string when, int reqs)
            {
                var before = Hits(relay);
                string[] ids = [.. written.Select(e => e.Id)];
                for (var q = 0; q < reqs; q++)
                {
                    var filters = Enumerable.Range(0, rng.Next(1, 4)).Select(_ => HotTierDifferentialTests.RandomFilter(rng, ids, authors, @base, KindPool)).ToArray();
                    var expected = new List<string>();
                    await EventQuery.RunAsync(data, filters, relay.Options.MaxLimit, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), raw =>
                    {
                        expected.Add(JsonDocument.Parse(raw).RootElement.GetProperty("id").GetString()!);
                        return ValueTask.CompletedTask;
                    }, CancellationToken.None);
                    var subId = $"q{++asked}";
                    var actual = await client.QueryIdsAsync(subId, filters.Select(Json).ToArray());
                    await client.SendAsync($"[\"CLOSE\",\"{subId}\"]");
                    Assert.True(expected.SequenceEqual(actual),
                        $"seed {seed} (RELAY_TEST_SEED={seed} replays it), {when}, REQ {q}: {string.Join(" | ", filters.Select(HotTierDifferentialTests.Describe))}\n" +
                        $"PostgreSQL {expected.Count}: {string.Join(", ", expected.Select(id => id[..8]))}\n" +
                        $"relay      {actual.Count}: {string.Join(", ", actual.Select(id => id[..8]))}");
                }
                fromMemory += (int)(Hits(relay) - before);
            }

            await ReadyAsync(a, b);
            await WriteAsync(250);
            await InSyncAsync(a, b);
            Assert.True(a.Host.HotTier!.IsReady && b.Host.HotTier!.IsReady);
            Assert.DoesNotContain("relay_hot_tier_horizon 0\n", b.Host.Metrics.Render());   // the budget moved the horizon
            await CompareAsync(a, toA, "both relays up", 40);
            await CompareAsync(b, toB, "both relays up", 40);
            Assert.True(fromMemory > 30, $"only {fromMemory} filters were answered from memory");

            // Redis goes away while A writes: B cannot hear of it, so its tier steps aside.
            await redis.StopAsync();
            await Eventually.WaitForAsync(() => Task.FromResult(!a.Host.HotTier!.IsReady && !b.Host.HotTier!.IsReady), "both tiers to step aside");
            await WriteAsync(60, onlyA: true);
            await CompareAsync(b, toB, "during the Redis outage", 25);
            await redis.StartAgainAsync();
            await ReadyAsync(a, b);   // reloaded: they caught up from the database
            var since = (a.Host.HotTier!.Taken, b.Host.HotTier!.Taken);
            await WriteAsync(60);
            await InSyncAsync(a, b, since);
            await CompareAsync(a, toA, "after the outage", 30);
            await CompareAsync(b, toB, "after the outage", 30);

            // A restart: the tier loads from the database (newest first, to its budget).
            await b.DisposeAsync();
            b = await TestRelay.StartAsync(o => tierOn(o), db);
            await ReadyAsync(b);
            await using var toB2 = await b.ConnectAsync();
            await CompareAsync(b, toB2, "after a restart", 30);
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
            foreach (var signer in signers) signer.Dispose();
        }
    }

    private static long Hits(TestRelay relay) =>
        relay.Host.Metrics.Render().Split('\n').Where(l => l.StartsWith("relay_hot_tier_filters_total{", StringComparison.Ordinal) && l.Contains("answered=\"memory\""))
            .Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    private static Task ReadyAsync(params TestRelay[] relays) =>
        Eventually.WaitForAsync(() => Task.FromResult(relays.All(r => r.Host.HotTier!.IsReady)), "the hot tiers to load");

    /// Both have taken every stored event (each takes its own from its writer, the other's from the bus).
    private static async Task InSyncAsync(TestRelay a, TestRelay b, (long A, long B) since = default)
    {
        long last = -1;
        await Eventually.WaitForAsync(async () =>
        {
            var (ta, tb) = (a.Host.HotTier!.Taken - since.A, b.Host.HotTier!.Taken - since.B);
            var settled = ta == tb && ta == last;
            last = ta == tb ? ta : -1;
            await Task.Delay(50);
            return settled;
        }, "both tiers to take the same events");
    }

    private static string Json(NostrFilter f)
    {
        var o = new Dictionary<string, object>();
        if (f.Ids is { } ids) o["ids"] = ids;
        if (f.Authors is { } authors) o["authors"] = authors;
        if (f.Kinds is { } kinds) o["kinds"] = kinds;
        foreach (var (name, values) in f.Tags) o["#" + name] = values;
        if (f.Since is { } since) o["since"] = since;
        if (f.Until is { } until) o["until"] = until;
        if (f.Limit is { } limit) o["limit"] = limit;
        return JsonSerializer.Serialize(o);
    }
}

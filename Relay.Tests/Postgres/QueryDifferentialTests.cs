using System.Globalization;
using System.Text;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Tests.Postgres;

/// strfry's filterFuzzTest, for our SQL: random events are written through EventWriter, then for
/// random REQs the ids EventQuery returns must equal, in order, what a naive in-memory evaluation
/// of NIP-01 over the same events gives. Set RELAY_TEST_SEED to replay a failing run.
public sealed class QueryDifferentialTests
{
    private const int EventCount = 400;
    private const int QueryCount = 300;
    private const int MaxLimit = 50;
    private const long Base = 1_700_000_000;
    /// "now" for the query: expiration tags are drawn around it.
    private const long Now = Base + 500;

    private static readonly int[] KindPool = [1, 1, 1, 7, 0, 3, 30023, 30023, 10002];
    private static readonly string[] TPool = ["nostr", "Nostr", "zap", "日本語", "emoji😀", "", "a\u0000b"];
    private static readonly string[] DPool = ["", "a", "b", "ü"];
    private static readonly string[] ContentPieces =
        ["hello", " ", "\"", "\\", "/", "\n", "\t", "\u0000", "\u0001", "\u007f", "é", "中文", "\u2028", "😀", "{}", "[\"x\"]"];

    [Fact]
    public async Task EventQuery_returns_what_a_naive_matcher_returns()
    {
        var seed = Environment.GetEnvironmentVariable("RELAY_TEST_SEED") is { } s
            ? int.Parse(s, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
        var rng = new Random(seed);

        var signers = Enumerable.Range(0, 8).Select(i => EventSigner.FromSeed($"differential-author-{i}")).ToArray();
        try
        {
            var authors = signers.Select(a => a.Pubkey).ToArray();
            var ePool = Enumerable.Range(0, 6).Select(_ => RandomHex(rng)).ToArray();
            string[] pPool = [.. authors.Take(4), RandomHex(rng), RandomHex(rng)];

            var events = new List<NostrEvent>(EventCount);
            for (var i = 0; i < EventCount; i++)
            {
                var kind = Pick(rng, KindPool);
                var tags = RandomTags(rng, kind, ePool, pPool);
                events.Add(Pick(rng, signers).SignEvent(kind, RandomContent(rng), tags, Base + rng.Next(0, 40)));
            }

            await using var db = await MigratedDatabase.CreateAsync();
            await using (var writer = new EventWriter(db.DataSource))
            {
                // Several batches of random size, in random (not time) order, some events sent twice.
                var toWrite = new List<NostrEvent>(events);
                toWrite.AddRange(Enumerable.Range(0, 40).Select(_ => Pick(rng, events)));
                for (var at = 0; at < toWrite.Count;)
                {
                    var n = Math.Min(rng.Next(1, 120), toWrite.Count - at);
                    // The ingest stage never puts one id twice into a batch; neither do we.
                    var batch = toWrite.GetRange(at, n).DistinctBy(e => e.Id).ToList();
                    var outcomes = await writer.WriteAsync(batch);
                    Assert.Equal(batch.Count, outcomes.Length);
                    at += n;
                }
            }

            var visible = Survivors(events).Where(e => ExpirationOf(e) is not { } exp || exp > Now).ToList();
            var byId = events.ToDictionary(e => e.Id);
            string[] knownIds = [.. events.Select(e => e.Id)];

            for (var q = 0; q < QueryCount; q++)
            {
                var filters = Enumerable.Range(0, rng.Next(1, 4))
                    .Select(_ => RandomFilter(rng, knownIds, authors, ePool, pPool)).ToArray();
                var expected = Naive(visible, filters);
                var raws = await db.QueryAsync(filters, MaxLimit, Now);
                var actual = MigratedDatabase.Ids(raws);
                if (!expected.SequenceEqual(actual))
                    Assert.Fail($"seed {seed} (RELAY_TEST_SEED={seed} replays it), query {q}: {Describe(filters)}\n" +
                                $"expected {expected.Count}: {string.Join(", ", expected.Select(Short))}\n" +
                                $"actual   {actual.Count}: {string.Join(", ", actual.Select(Short))}");
                for (var i = 0; i < raws.Count; i++)
                    if (!raws[i].AsSpan().SequenceEqual(byId[actual[i]].Raw))
                        Assert.Fail($"seed {seed}, query {q}: event {actual[i]} came back with different bytes than were stored");
            }
        }
        finally
        {
            foreach (var signer in signers) signer.Dispose();
        }
    }

    // ---- The naive model ----

    /// NIP-01 storage rules, computed without the relay's helpers: regular events all stay; for
    /// replaceable kinds the newest per (pubkey, kind), for addressable kinds the newest per
    /// (pubkey, kind, first d value or ""); ties on created_at keep the lowest id.
    private static IEnumerable<NostrEvent> Survivors(IEnumerable<NostrEvent> events)
    {
        var regular = new List<NostrEvent>();
        var newest = new Dictionary<(string, int, string), NostrEvent>();
        foreach (var e in events.DistinctBy(e => e.Id))
        {
            string? key = e.Kind is 0 or 3 || e.Kind is >= 10000 and < 20000 ? ""
                : e.Kind is >= 30000 and < 40000 ? FirstD(e)
                : null;
            if (key is null) { regular.Add(e); continue; }
            var k = (e.Pubkey, e.Kind, key);
            if (!newest.TryGetValue(k, out var old) || e.CreatedAt > old.CreatedAt ||
                (e.CreatedAt == old.CreatedAt && string.CompareOrdinal(e.Id, old.Id) < 0))
                newest[k] = e;
        }
        return regular.Concat(newest.Values);
    }

    private static string FirstD(NostrEvent e)
    {
        foreach (var t in e.Tags)
            if (t.Length >= 1 && t[0] == "d") return t.Length >= 2 ? t[1] : "";
        return "";
    }

    /// NIP-40: hidden once expiration ≤ now.
    private static long? ExpirationOf(NostrEvent e)
    {
        foreach (var t in e.Tags)
            if (t.Length >= 2 && t[0] == "expiration" && long.TryParse(t[1], CultureInfo.InvariantCulture, out var at)) return at;
        return null;
    }

    /// Per filter: matches, newest first (ties lowest id), its limit capped at MaxLimit; then the
    /// union, deduplicated and sorted the same way.
    private static List<string> Naive(List<NostrEvent> visible, NostrFilter[] filters)
    {
        var union = new Dictionary<string, NostrEvent>();
        foreach (var f in filters)
            foreach (var e in Sorted(visible.Where(f.Matches)).Take(Math.Min(f.Limit ?? MaxLimit, MaxLimit)))
                union[e.Id] = e;
        return Sorted(union.Values).Select(e => e.Id).ToList();
    }

    private static IEnumerable<NostrEvent> Sorted(IEnumerable<NostrEvent> events) =>
        events.OrderByDescending(e => e.CreatedAt).ThenBy(e => e.Id, StringComparer.Ordinal);

    // ---- Generators ----

    private static string[][] RandomTags(Random rng, int kind, string[] ePool, string[] pPool)
    {
        var tags = new List<string[]>();
        if (kind is >= 30000 and < 40000 || rng.Next(10) == 0)
        {
            // Mostly one d tag; sometimes none or two (the first one counts).
            var r = rng.Next(10);
            if (r < 8) tags.Add(["d", Pick(rng, DPool)]);
            else if (r == 8) { tags.Add(["d", Pick(rng, DPool)]); tags.Add(["d", Pick(rng, DPool)]); }
        }
        var n = rng.Next(0, 5);
        for (var i = 0; i < n; i++)
        {
            var letter = Pick(rng, ["e", "p", "t"]);
            var value = letter switch { "e" => Pick(rng, ePool), "p" => Pick(rng, pPool), _ => Pick(rng, TPool) };
            switch (rng.Next(10))
            {
                case 0: tags.Add([letter, value, "wss://relay.example.com", "reply"]); break;
                case 1: tags.Add([letter]); break;                        // no value: not selectable
                case 2: tags.Add([letter + letter, value]); break;        // two-letter name: not selectable
                default: tags.Add([letter, value]); break;
            }
        }
        if (rng.Next(20) == 0) tags.Add(["expiration", (Now + rng.Next(-3, 4) * 10).ToString(CultureInfo.InvariantCulture)]);
        // Shuffle so d and expiration tags are not always first or last.
        return [.. tags.OrderBy(_ => rng.Next())];
    }

    private static string RandomContent(Random rng)
    {
        var sb = new StringBuilder();
        for (var i = rng.Next(0, 8); i > 0; i--) sb.Append(Pick(rng, ContentPieces));
        return sb.ToString();
    }

    private static NostrFilter RandomFilter(Random rng, string[] knownIds, string[] authors, string[] ePool, string[] pPool)
    {
        bool Chance(double p) => rng.NextDouble() < p;
        T[] Some<T>(T[] pool, int max) => Chance(0.03) ? [] : [.. Enumerable.Range(0, rng.Next(1, max + 1)).Select(_ => Pick(rng, pool)).Distinct()];

        var tags = new List<(char, string[])>();
        if (Chance(0.2)) tags.Add(('e', Some(ePool, 3)));
        if (Chance(0.2)) tags.Add(('p', Some(pPool, 3)));
        if (Chance(0.25)) tags.Add(('t', Some(TPool, 3)));
        return new NostrFilter
        {
            Ids = Chance(0.15) ? Some([.. knownIds.OrderBy(_ => rng.Next()).Take(20), RandomHex(rng)], 5) : null,
            Authors = Chance(0.35) ? Some([.. authors, RandomHex(rng)], 3) : null,
            Kinds = Chance(0.4) ? Some([1, 7, 0, 3, 30023, 10002, 42], 3) : null,
            Tags = [.. tags.OrderBy(_ => rng.Next())],
            Since = Chance(0.25) ? Base + rng.Next(-2, 42) : null,
            Until = Chance(0.25) ? Base + rng.Next(-2, 42) : null,
            Limit = Chance(0.5) ? rng.Next(0, 30) : null,
        };
    }

    private static T Pick<T>(Random rng, IReadOnlyList<T> pool) => pool[rng.Next(pool.Count)];

    private static string RandomHex(Random rng)
    {
        var bytes = new byte[32];
        rng.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    // ---- Failure messages ----

    private static string Short(string id) => id[..8];

    private static string Describe(NostrFilter[] filters) => "[" + string.Join(", ", filters.Select(f =>
    {
        var parts = new List<string>();
        if (f.Ids is { } ids) parts.Add($"ids:[{string.Join(",", ids.Select(Short))}]");
        if (f.Authors is { } a) parts.Add($"authors:[{string.Join(",", a.Select(Short))}]");
        if (f.Kinds is { } k) parts.Add($"kinds:[{string.Join(",", k)}]");
        foreach (var (name, values) in f.Tags)
            parts.Add($"#{name}:[{string.Join(",", values.Select(v => System.Text.Json.JsonSerializer.Serialize(v)))}]");
        if (f.Since is { } s) parts.Add($"since:{s - Base}");
        if (f.Until is { } u) parts.Add($"until:{u - Base}");
        if (f.Limit is { } l) parts.Add($"limit:{l}");
        return "{" + string.Join(" ", parts) + "}";
    })) + "] (times relative to " + Base + ")";
}

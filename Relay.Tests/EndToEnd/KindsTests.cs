using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Relay.Storage.Model;
using Relay.Tests.Support;
using static Relay.Tests.Support.RelayClientExtensions;

namespace Relay.Tests.EndToEnd;

/// What the relay keeps by kind (NIP-01): replaceable, addressable and ephemeral events, and
/// content that must come back exactly as the author's client signed it.
public sealed class KindsTests
{
    private static readonly long T0 = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 100_000;

    private static string ByAuthorAndKind(string pubkey, int kind) => $$"""{"authors":["{{pubkey}}"],"kinds":[{{kind}}]}""";

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(10002)]
    public async Task Newer_replaceable_event_replaces_the_older_one(int kind)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var older = s.Sign(kind, "v1", createdAt: T0);
        var newer = s.Sign(kind, "v2", createdAt: T0 + 10);

        await client.PublishAcceptedAsync(older, newer);

        Assert.Equal([IdOf(newer)], await client.QueryIdsAsync("s", ByAuthorAndKind(s.Pubkey, kind)));
        Assert.Empty(await client.QueryIdsAsync("old", $$"""{"ids":["{{IdOf(older)}}"]}"""));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(10002)]
    public async Task Older_replaceable_event_arriving_after_a_newer_one_is_not_served(int kind)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var newer = s.Sign(kind, "v2", createdAt: T0 + 10);
        var older = s.Sign(kind, "v1", createdAt: T0);

        await client.PublishAcceptedAsync(newer);
        await client.PublishAsync(older);   // OK true or false are both allowed; what is served is not

        Assert.Equal([IdOf(newer)], await client.QueryIdsAsync("s", ByAuthorAndKind(s.Pubkey, kind)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10002)]
    public async Task Replaceable_events_of_different_authors_or_kinds_do_not_replace_each_other(int kind)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        var a = alice.Sign(kind, "alice", createdAt: T0);
        var b = bob.Sign(kind, "bob", createdAt: T0 + 1);
        var otherKind = alice.Sign(3, "alice contacts", createdAt: T0 + 2);

        await client.PublishAcceptedAsync(a, b, otherKind);

        Assert.Equal([IdOf(otherKind), IdOf(b), IdOf(a)], await client.QueryIdsAsync("s", "{}"));
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(0, false)]
    [InlineData(10002, true)]
    [InlineData(10002, false)]
    [InlineData(30023, true)]
    [InlineData(30023, false)]
    public async Task Replaceable_events_with_equal_created_at_keep_the_lowest_id(int kind, bool lowestFirst)
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        string[][] tags = kind >= 30000 ? [["d", "same"]] : [];
        var x = s.Sign(kind, "x", tags, T0);
        var y = s.Sign(kind, "y", tags, T0);
        var (low, high) = string.CompareOrdinal(IdOf(x), IdOf(y)) < 0 ? (x, y) : (y, x);

        if (lowestFirst) { await client.PublishAcceptedAsync(low); await client.PublishAsync(high); }
        else { await client.PublishAcceptedAsync(high); await client.PublishAcceptedAsync(low); }

        Assert.Equal([IdOf(low)], await client.QueryIdsAsync("s", ByAuthorAndKind(s.Pubkey, kind)));
    }

    [Fact]
    public async Task Two_versions_sent_without_waiting_leave_only_the_newest()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        // Sent back to back, the versions likely share one write batch: the rule must hold inside it too.
        var offsets = new[] { 3, 0, 5, 1, 4, 2 };
        var versions = offsets.Select(t => s.Sign(0, $"v{t}", createdAt: T0 + t)).ToArray();
        var newest = versions[Array.IndexOf(offsets, 5)];

        foreach (var v in versions) await client.SendEventAsync(v);
        for (var i = 0; i < versions.Length; i++) await client.ReadUntilAsync("OK");

        Assert.Equal([IdOf(newest)], await client.QueryIdsAsync("s", ByAuthorAndKind(s.Pubkey, 0)));
    }

    [Fact]
    public async Task Addressable_events_with_different_d_tags_coexist()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var first = s.Sign(30023, "first article", [["d", "first"]], T0);
        var second = s.Sign(30023, "second article", [["d", "second"]], T0 + 1);
        var noD = s.Sign(30023, "no d tag", [], T0 + 2);

        await client.PublishAcceptedAsync(first, second, noD);

        Assert.Equal([IdOf(noD), IdOf(second), IdOf(first)], await client.QueryIdsAsync("s", ByAuthorAndKind(s.Pubkey, 30023)));
    }

    [Fact]
    public async Task Addressable_event_with_the_same_d_tag_replaces_the_older_one()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var v1 = s.Sign(30023, "draft", [["d", "article"]], T0);
        var other = s.Sign(30023, "another article", [["d", "other"]], T0 + 1);
        var v2 = s.Sign(30023, "final", [["d", "article"], ["t", "x"]], T0 + 5);
        var stale = s.Sign(30023, "stale edit", [["d", "article"]], T0 + 3);

        await client.PublishAcceptedAsync(v1, other, v2);
        await client.PublishAsync(stale);

        Assert.Equal([IdOf(v2), IdOf(other)], await client.QueryIdsAsync("s", ByAuthorAndKind(s.Pubkey, 30023)));
        Assert.Equal([IdOf(v2)], await client.QueryIdsAsync("d", """{"#d":["article"]}"""));
    }

    [Fact]
    public async Task Addressable_events_of_different_authors_with_the_same_d_tag_coexist()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        var a = alice.Sign(30023, "alice's", [["d", "shared"]], T0);
        var b = bob.Sign(30023, "bob's", [["d", "shared"]], T0 + 1);

        await client.PublishAcceptedAsync(a, b);

        Assert.Equal([IdOf(b), IdOf(a)], await client.QueryIdsAsync("s", """{"#d":["shared"]}"""));
    }

    [Fact]
    public async Task Addressable_event_without_a_d_tag_and_one_with_an_empty_d_tag_share_one_address()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var noD = s.Sign(30023, "no d tag", [], T0);
        var emptyD = s.Sign(30023, "empty d tag", [["d", ""]], T0 + 1);

        await client.PublishAcceptedAsync(noD, emptyD);

        Assert.Equal([IdOf(emptyD)], await client.QueryIdsAsync("s", ByAuthorAndKind(s.Pubkey, 30023)));
    }

    [Fact]
    public async Task A_d_tag_on_a_replaceable_kind_does_not_split_it_into_several_addresses()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var client = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var a = s.Sign(0, "profile a", [["d", "a"]], T0);
        var b = s.Sign(0, "profile b", [["d", "b"]], T0 + 1);

        await client.PublishAcceptedAsync(a, b);

        Assert.Equal([IdOf(b)], await client.QueryIdsAsync("s", ByAuthorAndKind(s.Pubkey, 0)));
    }

    [Fact]
    public async Task Live_subscriber_gets_the_newer_replaceable_version_but_not_a_stale_one()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var current = s.Sign(0, "current", createdAt: T0 + 10);
        await publisher.PublishAcceptedAsync(current);
        Assert.Single(await subscriber.QueryAsync("profile", ByAuthorAndKind(s.Pubkey, 0)));

        await publisher.PublishAsync(s.Sign(0, "stale", createdAt: T0));
        var newer = s.Sign(0, "newer", createdAt: T0 + 20);
        await publisher.PublishAcceptedAsync(newer);
        var m = await subscriber.NextAsync();

        Assert.Equal(IdOf(newer), m[2].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Ephemeral_event_is_delivered_live_but_never_returned_by_a_later_REQ()
    {
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        using var s = EventSigner.Random();
        var json = s.Sign(20001, "typing…");
        Assert.Empty(await subscriber.QueryAsync("live", ByAuthorAndKind(s.Pubkey, 20001)));

        await publisher.PublishAcceptedAsync(json);
        var delivered = await subscriber.ReadUntilAsync("EVENT", "live");

        Assert.Equal(IdOf(json), delivered[2].GetProperty("id").GetString());
        Assert.Empty(await publisher.QueryAsync("later", ByAuthorAndKind(s.Pubkey, 20001)));
        Assert.Empty(await publisher.QueryAsync("byid", $$"""{"ids":["{{IdOf(json)}}"]}"""));
    }

    // ---- Content round trip with vectors signed by nostr-tools (Data/id-vectors.json) ----

    private static readonly Lazy<Dictionary<string, JsonElement>> Vectors = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Data", "id-vectors.json")));
        return doc.RootElement.EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!, v => v.GetProperty("event").Clone());
    });

    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in Vectors.Value.Keys) data.Add(name);
        return data;
    }

    [Fact]
    public void Vector_file_holds_content_with_NUL_emoji_quotes_and_backslashes()
    {
        var contents = Vectors.Value.Values.Select(e => e.GetProperty("content").GetString()!).ToList();
        Assert.Contains(contents, c => c.Contains('\0'));
        Assert.Contains(contents, c => c.Contains("🤙"));
        Assert.Contains(contents, c => c.Contains('"') && c.Contains('\\'));
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public async Task Client_signed_event_round_trips_exactly_live_and_stored(string name)
    {
        var vector = Vectors.Value[name];
        var id = vector.GetProperty("id").GetString()!;
        var createdAt = vector.GetProperty("created_at").GetInt64();
        var kind = vector.GetProperty("kind").GetInt32();
        await using var relay = await TestRelay.StartAsync();
        await using var subscriber = await relay.ConnectAsync();
        await using var publisher = await relay.ConnectAsync();
        Assert.Empty(await subscriber.QueryAsync("live", $$"""{"ids":["{{id}}"]}"""));

        // Published as nostr-tools wrote it (pretty-printed, its own escaping), not re-serialised here.
        var (accepted, message) = await publisher.PublishAsync(vector.GetRawText());

        if (createdAt > DateTimeOffset.UtcNow.ToUnixTimeSeconds() + relay.Options.MaxFutureSeconds)
        {
            Assert.False(accepted, "an event dated far in the future was accepted");
            Assert.StartsWith("invalid:", message);
            return;
        }
        Assert.True(accepted, message);
        AssertSameEvent(vector, (await subscriber.ReadUntilAsync("EVENT", "live"))[2]);

        var stored = await publisher.QueryAsync("stored", $$"""{"ids":["{{id}}"]}""");
        if (Kinds.Classify(kind) == KindClass.Ephemeral) { Assert.Empty(stored); return; }
        AssertSameEvent(vector, Assert.Single(stored));
    }

    /// Every field equal after JSON decoding (so content compares as the exact string, U+0000
    /// included), and the served event still hashes to its id as a client would check it.
    private static void AssertSameEvent(JsonElement expected, JsonElement served)
    {
        foreach (var field in new[] { "id", "pubkey", "sig", "content" })
            Assert.Equal(expected.GetProperty(field).GetString(), served.GetProperty(field).GetString());
        Assert.Equal(expected.GetProperty("created_at").GetInt64(), served.GetProperty("created_at").GetInt64());
        Assert.Equal(expected.GetProperty("kind").GetInt32(), served.GetProperty("kind").GetInt32());
        var tags = ReadTags(served);
        Assert.Equal(ReadTags(expected), tags);

        var w = new ArrayBufferWriter<byte>();
        CanonicalJson.WriteIdPreimage(w, served.GetProperty("pubkey").GetString()!, served.GetProperty("created_at").GetInt64(),
            served.GetProperty("kind").GetInt32(), tags, Encoding.UTF8.GetBytes(served.GetProperty("content").GetString()!));
        Assert.Equal(served.GetProperty("id").GetString(), Convert.ToHexStringLower(SHA256.HashData(w.WrittenSpan)));
    }

    private static string[][] ReadTags(JsonElement e) =>
        e.GetProperty("tags").EnumerateArray().Select(t => t.EnumerateArray().Select(v => v.GetString()!).ToArray()).ToArray();
}

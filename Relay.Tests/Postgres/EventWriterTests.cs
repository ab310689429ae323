using System.Text.Json;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Tests.Postgres;

/// Both ways into the database (binary COPY into staging tables, and arrays in one statement
/// batch) must give the same outcomes; each runs every test below.
public abstract class EventWriterTests
{
    /// Batches at least this large go through COPY.
    protected abstract int CopyFromBatchSize { get; }

    private EventWriter NewWriter(Npgsql.NpgsqlDataSource db) => new(db, "ws://127.0.0.1", CopyFromBatchSize);

    private const long T0 = 1_700_000_000;

    [Fact]
    public async Task New_events_are_Stored_and_the_same_batch_again_is_Duplicate()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-new");
        NostrEvent[] batch = [signer.SignEvent(1, "one", createdAt: T0), signer.SignEvent(1, "two", createdAt: T0 + 1), signer.SignEvent(7, "+", createdAt: T0 + 2)];
        await using var writer = NewWriter(db.DataSource);

        Assert.Equal([WriteOutcome.Stored, WriteOutcome.Stored, WriteOutcome.Stored], await writer.WriteAsync(batch));
        Assert.Equal([WriteOutcome.Duplicate, WriteOutcome.Duplicate, WriteOutcome.Duplicate], await writer.WriteAsync(batch));

        var served = MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Authors = [signer.Pubkey] }));
        Assert.Equal(batch.Reverse().Select(e => e.Id), served);
        Assert.Equal(3, await db.ScalarAsync("SELECT count(*) FROM events"));
    }

    [Fact]
    public async Task Older_replaceable_after_newer_is_Superseded_and_the_newer_is_still_served()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-superseded");
        var newer = signer.SignEvent(0, "{\"name\":\"new\"}", createdAt: T0 + 10);
        var older = signer.SignEvent(0, "{\"name\":\"old\"}", [["t", "old"]], createdAt: T0);
        await using var writer = NewWriter(db.DataSource);

        Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([newer]));
        Assert.Equal([WriteOutcome.Superseded], await writer.WriteAsync([older]));

        Assert.Equal([newer.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Authors = [signer.Pubkey], Kinds = [0] })));
        Assert.Equal((0L, 0L), await db.RowsForAsync(older.Id));
        Assert.Empty(await db.QueryAsync(new NostrFilter { Tags = [('t', ["old"])] }));
    }

    [Fact]
    public async Task Newer_replaceable_removes_the_older_from_events_and_tags()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-replace");
        var older = signer.SignEvent(3, "", [["p", signer.Pubkey], ["t", "old"]], createdAt: T0);
        var newer = signer.SignEvent(3, "", [["t", "new"]], createdAt: T0 + 1);
        await using var writer = NewWriter(db.DataSource);

        Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([older]));
        Assert.Equal((1L, 2L), await db.RowsForAsync(older.Id));
        Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([newer]));

        Assert.Equal((0L, 0L), await db.RowsForAsync(older.Id));
        Assert.Equal((1L, 1L), await db.RowsForAsync(newer.Id));
        Assert.Empty(await db.QueryAsync(new NostrFilter { Tags = [('t', ["old"])] }));
        Assert.Empty(await db.QueryAsync(new NostrFilter { Tags = [('p', [signer.Pubkey])] }));
        Assert.Equal([newer.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Kinds = [3] })));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Replaceable_tie_on_created_at_keeps_the_lowest_id(bool lowestFirst)
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-tie");
        var a = signer.SignEvent(10002, "a", [["r", "wss://a.example"]], createdAt: T0);
        var b = signer.SignEvent(10002, "b", [["r", "wss://b.example"]], createdAt: T0);
        var (low, high) = string.CompareOrdinal(a.Id, b.Id) < 0 ? (a, b) : (b, a);
        await using var writer = NewWriter(db.DataSource);

        if (lowestFirst)
        {
            Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([low]));
            Assert.Equal([WriteOutcome.Superseded], await writer.WriteAsync([high]));
        }
        else
        {
            Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([high]));
            Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([low]));
        }

        Assert.Equal([low.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Authors = [signer.Pubkey] })));
        Assert.Equal((0L, 0L), await db.RowsForAsync(high.Id));
    }

    [Fact]
    public async Task Addressable_events_with_different_d_coexist_and_each_address_keeps_its_newest()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-addressable");
        var a1 = signer.SignEvent(30023, "a v1", [["d", "a"]], createdAt: T0);
        var b1 = signer.SignEvent(30023, "b v1", [["d", "b"]], createdAt: T0 + 1);
        var a2 = signer.SignEvent(30023, "a v2", [["d", "a"]], createdAt: T0 + 2);
        // No d tag and an empty d tag are the same address (NIP-01: "" when absent).
        var none = signer.SignEvent(30023, "no d", createdAt: T0 + 3);
        var empty = signer.SignEvent(30023, "empty d", [["d", ""]], createdAt: T0 + 4);
        // The same d under another kind is another address.
        var otherKind = signer.SignEvent(30024, "draft a", [["d", "a"]], createdAt: T0 + 5);
        await using var writer = NewWriter(db.DataSource);

        foreach (var e in new[] { a1, b1, a2, none, empty, otherKind })
            Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([e]));

        var served = MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Authors = [signer.Pubkey] }));
        Assert.Equal([otherKind.Id, empty.Id, a2.Id, b1.Id], served);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_batch_with_both_versions_of_a_replaceable_event_keeps_the_newer(bool olderFirst)
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-both");
        var older = signer.SignEvent(0, "old", [["t", "old"]], createdAt: T0);
        var newer = signer.SignEvent(0, "new", createdAt: T0 + 1);
        var regular = signer.SignEvent(1, "note", createdAt: T0);
        await using var writer = NewWriter(db.DataSource);

        if (olderFirst)
            Assert.Equal([WriteOutcome.Superseded, WriteOutcome.Stored, WriteOutcome.Stored], await writer.WriteAsync([older, regular, newer]));
        else
            Assert.Equal([WriteOutcome.Stored, WriteOutcome.Stored, WriteOutcome.Superseded], await writer.WriteAsync([newer, regular, older]));

        Assert.Equal([newer.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Kinds = [0] })));
        Assert.Equal((0L, 0L), await db.RowsForAsync(older.Id));
    }

    [Fact]
    public async Task Content_with_U0000_is_stored_and_served_byte_exact()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-nul");
        var e = EventParser.TryParse(signer.SignUtf8(1, "a\u0000b \"😀\"\n", createdAt: T0), out var error) ?? throw new InvalidOperationException(error);
        await using var writer = NewWriter(db.DataSource);

        Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([e]));

        var raw = Assert.Single(await db.QueryAsync(new NostrFilter { Ids = [e.Id] }));
        Assert.Equal(e.Raw, raw);
        using var doc = JsonDocument.Parse(raw);
        Assert.Equal("a\u0000b \"😀\"\n", doc.RootElement.GetProperty("content").GetString());
        // What comes back still has a valid id: a client can verify it.
        Assert.NotNull(EventParser.TryParse(raw, out _));
    }

    [Fact]
    public async Task Tag_value_with_U0000_is_queryable_by_hash_t()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-nul-tag");
        var e = signer.SignEvent(1, "", [["t", "a\u0000b"]], createdAt: T0);
        var plain = signer.SignEvent(1, "", [["t", "a"]], createdAt: T0);
        await using var writer = NewWriter(db.DataSource);

        Assert.Equal([WriteOutcome.Stored, WriteOutcome.Stored], await writer.WriteAsync([e, plain]));

        Assert.Equal([e.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Tags = [('t', ["a\u0000b"])] })));
        Assert.Equal([plain.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Tags = [('t', ["a"])] })));
    }

    [Fact]
    public async Task A_32_byte_text_tag_value_and_the_hex_of_its_bytes_are_different_values()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-tag-keys");
        var text32 = "abcdefghijklmnopqrstuvwxyz012345";
        var hex = Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(text32));
        var a = signer.SignEvent(1, "text", [["t", text32]], createdAt: T0);
        var b = signer.SignEvent(1, "hex", [["t", hex]], createdAt: T0 + 1);
        var c = signer.SignEvent(1, "HEX", [["t", hex.ToUpperInvariant()]], createdAt: T0 + 2);
        await using var writer = NewWriter(db.DataSource);

        Assert.Equal([WriteOutcome.Stored, WriteOutcome.Stored, WriteOutcome.Stored], await writer.WriteAsync([a, b, c]));

        Assert.Equal([a.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Tags = [('t', [text32])] })));
        Assert.Equal([b.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Tags = [('t', [hex])] })));
        Assert.Equal([c.Id], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Tags = [('t', [hex.ToUpperInvariant()])] })));
    }

    [Fact]
    public async Task A_deletion_that_is_not_stored_deletes_nothing()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-refused-deletion");
        await using var writer = NewWriter(db.DataSource);
        var later = signer.SignEvent(1, "after the vanish", createdAt: T0 + 100);
        var laterToo = signer.SignEvent(1, "also after it", createdAt: T0 + 101);
        Assert.Equal([WriteOutcome.Stored, WriteOutcome.Stored], await writer.WriteAsync([later, laterToo]));
        var vanish = signer.SignEvent(62, "", [["relay", "ALL_RELAYS"]], T0 + 50);
        Assert.Equal([WriteOutcome.Stored], await writer.WriteAsync([vanish]));

        // Dated before the vanish, the deletion is refused, and so is what it asks.
        var refused = signer.SignEvent(5, "", [["e", later.Id]], T0 + 40);
        Assert.Equal([WriteOutcome.Deleted], await writer.WriteAsync([refused]));
        // Removed by a request to vanish sent after it in the same batch, a deletion asks nothing either.
        var vanishedWith = signer.SignEvent(5, "", [["e", laterToo.Id]], T0 + 60);
        var vanishAgain = signer.SignEvent(62, "", [["relay", "ALL_RELAYS"]], T0 + 70);
        Assert.Equal([WriteOutcome.DeletedInBatch, WriteOutcome.Stored], await writer.WriteAsync([vanishedWith, vanishAgain]));

        Assert.Equal(2, (await db.QueryAsync(new NostrFilter { Ids = [later.Id, laterToo.Id] })).Count);
    }

    [Fact]
    public async Task Two_writers_racing_on_one_replaceable_key_leave_exactly_the_winner()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var signer = EventSigner.FromSeed("writer-race");
        await using var w1 = NewWriter(db.DataSource);
        await using var w2 = NewWriter(db.DataSource);
        // Open both connections first, so the race is between the transactions.
        await w1.WriteAsync([signer.SignEvent(1, "warm 1", createdAt: T0)]);
        await w2.WriteAsync([signer.SignEvent(1, "warm 2", createdAt: T0)]);

        // Keys: replaceable kinds and addressable addresses; each writer sends its versions of
        // every key in one batch, in opposite orders. Some versions tie on created_at.
        (int Kind, string? D)[] keys = [(0, null), (3, null), (10002, null), (10050, null), (30023, "x"), (30023, "y"), (30000, "")];
        var rng = new Random(7);
        var all = keys.ToDictionary(k => k, _ => new List<NostrEvent>());
        for (var round = 0; round < 12; round++)
        {
            var b1 = new List<NostrEvent>();
            var b2 = new List<NostrEvent>();
            foreach (var key in keys)
            {
                string[][] tags = key.D is { } d ? [["d", d]] : [];
                var at = T0 + round * 3;
                var v1 = signer.SignEvent(key.Kind, $"w1 r{round}", tags, at + rng.Next(0, 2));
                var v2 = signer.SignEvent(key.Kind, $"w2 r{round}", tags, at + rng.Next(0, 2));
                b1.Add(v1);
                b2.Insert(0, v2);
                all[key].AddRange([v1, v2]);
            }

            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var t1 = Task.Run(async () => { await go.Task; return await w1.WriteAsync(b1); });
            var t2 = Task.Run(async () => { await go.Task; return await w2.WriteAsync(b2); });
            go.SetResult();
            var outcomes = (await t1).Zip(b1).Concat((await t2).Zip(b2)).ToDictionary(p => p.Second.Id, p => p.First);

            foreach (var key in keys)
            {
                var winner = all[key].OrderByDescending(e => e.CreatedAt).ThenBy(e => e.Id, StringComparer.Ordinal).First();
                var served = MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter { Authors = [signer.Pubkey], Kinds = [key.Kind] }))
                    .Where(id => all[key].Any(e => e.Id == id)).ToList();
                Assert.True(served.Count == 1 && served[0] == winner.Id,
                    $"round {round}, kind {key.Kind} d {key.D}: expected only {winner.Id}, served [{string.Join(", ", served)}]");
                var rows = await db.ScalarAsync("SELECT count(*) FROM events WHERE pubkey = $1 AND kind = $2 AND d_tag = $3",
                    Convert.FromHexString(signer.Pubkey), key.Kind, System.Text.Encoding.UTF8.GetBytes(key.D ?? ""));
                Assert.Equal(1, rows);
                if (outcomes.TryGetValue(winner.Id, out var o)) Assert.Equal(WriteOutcome.Stored, o);
            }
        }
    }
}

public sealed class EventWriterCopyTests : EventWriterTests
{
    protected override int CopyFromBatchSize => 1;
}

public sealed class EventWriterArrayTests : EventWriterTests
{
    protected override int CopyFromBatchSize => int.MaxValue;
}

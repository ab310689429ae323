using System.Text;
using System.Text.Json;
using Relay.Server.Cli;
using Relay.Storage.Model;
using Relay.Tests.Postgres;
using Relay.Tests.Support;

namespace Relay.Tests.Cli;

/// `relay import` and `relay export` against real databases, as the binary runs them.
public sealed class ImportExportTests
{
    private static Dictionary<string, string> Env(string url) => new() { ["DATABASE_URL"] = url };

    private static async Task<(int Code, string Errors)> ImportAsync(string url, string text, params string[] args)
    {
        var errors = new StringWriter();
        var code = await ImportCommand.RunAsync(Env(url), [.. args, "-"], new MemoryStream(Encoding.UTF8.GetBytes(text)), errors);
        return (code, errors.ToString());
    }

    private static async Task<(int Code, string Output, string Errors)> ExportAsync(string url, params string[] args)
    {
        var output = new MemoryStream();
        var errors = new StringWriter();
        var code = await ExportCommand.RunAsync(Env(url), args, output, errors);
        return (code, Encoding.UTF8.GetString(output.ToArray()), errors.ToString());
    }

    /// The same event with one digit of its signature changed (the id still matches).
    private static string BadSignature(string json) => json[..^10] + (json[^10] == '0' ? '1' : '0') + json[^9..];

    private static string Id(string json) => JsonDocument.Parse(json).RootElement.GetProperty("id").GetString()!;

    [Fact]
    public async Task Import_stores_good_lines_counts_duplicates_and_reports_bad_lines_by_number()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var alice = EventSigner.Random();
        var good1 = alice.Sign(1, "one", createdAt: 1_700_000_000);
        var good2 = alice.Sign(1, "two", createdAt: 1_700_000_001);
        var forged = good2.Replace("\"content\":\"two\"", "\"content\":\"tw0\"");              // id no longer matches
        var badSig = BadSignature(alice.Sign(1, "three", createdAt: 1_700_000_002));
        var lines = new[]
        {
            good1,                          // 1
            "",                             // 2: blank, skipped
            "not json at all",              // 3
            good1,                          // 4: the same event again
            forged,                         // 5
            $"[\"EVENT\",{good2}]",         // 6: an EVENT message line is accepted too
            badSig,                         // 7
        };
        var (code, errors) = await ImportAsync(db.Url, string.Join('\n', lines) + "\n");

        Assert.Equal(0, code);
        Assert.Contains("line 3: invalid:", errors);
        Assert.Contains("line 5: invalid:", errors);
        Assert.Contains("line 7: invalid: bad signature", errors);
        Assert.DoesNotContain("line 4:", errors);
        Assert.Contains("7 lines: 2 stored, 1 duplicate, 1 refused, 2 unreadable, 0 failed", errors);
        var stored = MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter()));
        Assert.Equal([Id(good2), Id(good1)], stored);
    }

    [Fact]
    public async Task Import_no_verify_skips_the_signature_check_but_still_checks_the_id()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var alice = EventSigner.Random();
        var badSig = BadSignature(alice.Sign(1, "trusted dump", createdAt: 1_700_000_000));
        var forged = alice.Sign(1, "x", createdAt: 1_700_000_000).Replace("\"content\":\"x\"", "\"content\":\"y\"");

        var (code, errors) = await ImportAsync(db.Url, badSig + "\n" + forged + "\n", "--no-verify");
        Assert.Equal(0, code);
        Assert.Contains("1 stored", errors);
        Assert.Contains("line 2: invalid:", errors);
    }

    [Fact]
    public async Task Import_applies_replaceable_and_deletion_rules_like_the_socket()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var alice = EventSigner.Random();
        var profileOld = alice.Sign(0, "{\"name\":\"old\"}", createdAt: 1_700_000_000);
        var profileNew = alice.Sign(0, "{\"name\":\"new\"}", createdAt: 1_700_000_100);
        var note = alice.Sign(1, "regret", createdAt: 1_700_000_000);
        var deletion = alice.Sign(5, "", [["e", Id(note)]], createdAt: 1_700_000_200);

        var (code, _) = await ImportAsync(db.Url, string.Join('\n', profileNew, profileOld, note, deletion));
        Assert.Equal(0, code);
        var stored = MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter()));
        Assert.Equal([Id(deletion), Id(profileNew)], stored);
    }

    [Fact]
    public async Task Export_then_import_into_an_empty_database_gives_the_same_events_in_the_same_order()
    {
        await using var source = await MigratedDatabase.CreateAsync();
        var signers = Enumerable.Range(0, 20).Select(_ => EventSigner.Random()).ToArray();
        var rng = new Random(7);
        var jsonl = new StringBuilder();
        for (var i = 0; i < 3000; i++)
        {
            var s = signers[rng.Next(signers.Length)];
            var kind = rng.Next(4) switch { 0 => 7, 1 => 30023, _ => 1 };
            string[][] tags = kind == 30023 ? [["d", $"a{i}"]] : [["p", signers[rng.Next(signers.Length)].Pubkey]];
            jsonl.Append(s.Sign(kind, $"event {i}", tags, createdAt: 1_700_000_000 + rng.Next(500))).Append('\n');   // ties on created_at
        }
        var (imported, _) = await ImportAsync(source.Url, jsonl.ToString());
        Assert.Equal(0, imported);
        Assert.Equal(3000, await source.ScalarAsync("SELECT count(*) FROM events"));

        var (code, dump, errors) = await ExportAsync(source.Url);
        Assert.Equal(0, code);
        Assert.Contains("done", errors);
        var lines = dump.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3000, lines.Length);

        await using var copy = await MigratedDatabase.CreateAsync();
        var (again, _) = await ImportAsync(copy.Url, dump);
        Assert.Equal(0, again);
        var (_, dumpOfCopy, _) = await ExportAsync(copy.Url);
        Assert.Equal(dump, dumpOfCopy);

        // Newest first, ties by id; --oldest-first reverses the time order.
        var times = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("created_at").GetInt64()).ToArray();
        Assert.Equal(times.OrderByDescending(t => t), times);
        var (_, oldest, _) = await ExportAsync(source.Url, "--oldest-first");
        var oldestTimes = oldest.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("created_at").GetInt64());
        Assert.Equal(times.Order(), oldestTimes);
    }

    [Fact]
    public async Task Export_on_a_filter_and_a_time_range_gives_exactly_the_matching_events()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var alice = EventSigner.Random();
        using var bob = EventSigner.Random();
        var events = new List<string>();
        for (var i = 0; i < 40; i++)
            events.Add((i % 2 == 0 ? alice : bob).Sign(i % 4 < 2 ? 1 : 7, $"n{i}", [["t", i % 3 == 0 ? "nostr" : "other"]], createdAt: 1_700_000_000 + i));
        var (imported, _) = await ImportAsync(db.Url, string.Join('\n', events));
        Assert.Equal(0, imported);

        var parsed = events.Select(e => EventParser.TryParse(Encoding.UTF8.GetBytes(e), out _)!).ToList();
        async Task Check(Func<NostrEvent, bool> expected, params string[] args)
        {
            var (code, dump, _) = await ExportAsync(db.Url, args);
            Assert.Equal(0, code);
            var want = parsed.Where(expected).OrderByDescending(e => e.CreatedAt).Select(e => e.Id).ToList();
            Assert.Equal(want, dump.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Id).ToList());
        }
        await Check(e => e.Pubkey == alice.Pubkey && e.Kind == 1, "--filter", $"{{\"authors\":[\"{alice.Pubkey}\"],\"kinds\":[1]}}");
        await Check(e => e.Tags.Any(t => t[0] == "t" && t[1] == "nostr"), "--filter", "{\"#t\":[\"nostr\"]}");
        await Check(e => e.CreatedAt is >= 1_700_000_010 and <= 1_700_000_019, "--since", "1700000010", "--until", "1700000019");
        await Check(e => e.Kind == 7 && e.CreatedAt >= 1_700_000_030, "--filter", "{\"kinds\":[7]}", "--since", "1700000030");
        // Several values in a field (arrays in the query), ids, and flags that only narrow the filter's range.
        await Check(e => e.Kind is 1 or 7 && e.Tags.Any(t => t[1] is "nostr" or "other"), "--filter", "{\"kinds\":[1,7],\"#t\":[\"nostr\",\"other\"]}");
        var some = parsed.Where((_, i) => i % 7 == 0).Select(e => e.Id).ToList();
        await Check(e => some.Contains(e.Id), "--filter", $"{{\"ids\":[{string.Join(',', some.Select(i => $"\"{i}\""))}]}}");
        await Check(e => e.CreatedAt >= 1_700_000_030, "--filter", "{\"since\":1700000030}", "--since", "1700000001");
    }

    /// The README's query over nostpy-relay's `events` table (id, pubkey, kind, created_at, tags
    /// JSONB, content, sig), whose output `relay import` takes.
    public const string NostpyExportQuery =
        "SELECT json_build_object('id', id, 'pubkey', pubkey, 'created_at', created_at, 'kind', kind, 'tags', tags, 'content', content, 'sig', sig) FROM events";

    [Fact]
    public async Task Moving_from_nostpy_the_READMEs_query_over_its_events_table_imports_every_event()
    {
        await using var nostpy = await TestDatabase.CreateAsync();
        await using var nostpyDb = nostpy.OpenDataSource();
        await using (var create = nostpyDb.CreateCommand(
            "CREATE TABLE events (id VARCHAR(255) PRIMARY KEY, pubkey VARCHAR(255), kind INTEGER, created_at INTEGER, tags JSONB, content TEXT, sig VARCHAR(255))"))
            await create.ExecuteNonQueryAsync();
        using var alice = EventSigner.Random();
        var events = new List<NostrEvent>();
        for (var i = 0; i < 50; i++)
        {
            var e = alice.SignEvent(i % 5 == 0 ? 30023 : 1, $"note {i} \"quoted\" \u00e9 \n line", [["t", "nostpy"], ["d", $"slug{i}"]], createdAt: 1_700_000_000 + i);
            events.Add(e);
            await using var insert = nostpyDb.CreateCommand("INSERT INTO events VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)");
            using var doc = JsonDocument.Parse(e.Raw);
            insert.Parameters.AddWithValue(e.Id);
            insert.Parameters.AddWithValue(e.Pubkey);
            insert.Parameters.AddWithValue(e.Kind);
            insert.Parameters.AddWithValue((int)e.CreatedAt);
            insert.Parameters.AddWithValue(doc.RootElement.GetProperty("tags").GetRawText());
            insert.Parameters.AddWithValue(doc.RootElement.GetProperty("content").GetString()!);
            insert.Parameters.AddWithValue(e.Sig);
            await insert.ExecuteNonQueryAsync();
        }
        var dump = new StringBuilder();
        await using (var select = nostpyDb.CreateCommand(NostpyExportQuery))
        await using (var reader = await select.ExecuteReaderAsync())
            while (await reader.ReadAsync()) dump.Append(reader.GetString(0)).Append('\n');

        await using var ours = await MigratedDatabase.CreateAsync();
        var (code, errors) = await ImportAsync(ours.Url, dump.ToString());
        Assert.Equal(0, code);
        Assert.Contains("50 lines: 50 stored", errors);
        Assert.Equal(events.OrderByDescending(e => e.CreatedAt).Select(e => e.Id), MigratedDatabase.Ids(await ours.QueryAsync(new NostrFilter())));
    }

    [Fact]
    public async Task Import_restores_protected_events_and_works_where_AUTH_is_required_for_writing()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        using var alice = EventSigner.Random();
        var note = alice.Sign(1, "mine only", [["-"]], createdAt: 1_700_000_000);
        var errors = new StringWriter();
        var env = new Dictionary<string, string> { ["DATABASE_URL"] = db.Url, ["AUTH_REQUIRED_FOR_WRITE"] = "true" };
        var code = await ImportCommand.RunAsync(env, ["-"], new MemoryStream(Encoding.UTF8.GetBytes(note + "\n")), errors);
        Assert.Equal(0, code);
        Assert.Contains("1 lines: 1 stored", errors.ToString());
        Assert.Equal([Id(note)], MigratedDatabase.Ids(await db.QueryAsync(new NostrFilter())));
    }

    [Fact]
    public async Task A_failed_export_leaves_the_previous_file_as_it_was()
    {
        var path = Path.Combine(Path.GetTempPath(), $"relay-export-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllTextAsync(path, "the last good backup\n");
        try
        {
            var errors = new StringWriter();
            var code = await ExportCommand.RunAsync(Env("postgres://postgres@127.0.0.1:1/nowhere"), [path], Stream.Null, errors);
            Assert.Equal(1, code);
            Assert.Contains("export failed", errors.ToString());
            Assert.Equal("the last good backup\n", await File.ReadAllTextAsync(path));
            Assert.False(File.Exists(path + ".partial"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Import_and_export_refuse_bad_arguments_with_a_message()
    {
        await using var db = await MigratedDatabase.CreateAsync();
        var (code, _, errors) = await ExportAsync(db.Url, "--filter", "{\"kinds\":\"one\"}");
        Assert.Equal(2, code);
        Assert.Contains("--filter", errors);
        (code, _, errors) = await ExportAsync(db.Url, "--since", "yesterday");
        Assert.Equal(2, code);
        Assert.Contains("--since must be a Unix time", errors);

        var err = new StringWriter();
        Assert.Equal(2, await ImportCommand.RunAsync(Env(db.Url), ["/nonexistent/events.jsonl"], Stream.Null, err));
        Assert.Contains("cannot read /nonexistent/events.jsonl", err.ToString());
        err = new StringWriter();
        Assert.Equal(2, await ImportCommand.RunAsync(Env(db.Url), ["a.jsonl", "b.jsonl"], Stream.Null, err));
        Assert.Contains("one FILE", err.ToString());
    }
}

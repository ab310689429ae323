using System.Diagnostics;
using Npgsql;
using Relay.Storage.Model;
using Relay.Tests.Support;

namespace Relay.Tests.Faults;

/// The disk under the relay's tables really fills up: a tablespace on a small tmpfs, which
/// PostgreSQL cannot extend a table or index into once it is full (SQLSTATE 53100).
public sealed class DiskFullTests
{
    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {p.StandardError.ReadToEnd()}");
    }

    private static async Task ExecAsync(string url, string sql)
    {
        var settings = Relay.Storage.Postgres.DatabaseUrl.Parse(url);
        settings.Pooling = false;
        await using var conn = new NpgsqlConnection(settings.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    [RootFact]
    public async Task On_a_full_disk_EVENTs_get_error_nothing_acknowledged_is_lost_reads_go_on_and_writes_resume_when_space_returns()
    {
        var mount = Directory.CreateTempSubdirectory("relay-full-disk-").FullName;
        Run("mount", "-t", "tmpfs", "-o", "size=3m,mode=700", "tmpfs", mount);
        try
        {
            Run("chown", "postgres:postgres", mount);
            await using var pg = await OwnPostgres.StartAsync();
            await ExecAsync(pg.Url, $"CREATE TABLESPACE small LOCATION '{mount}'");
            await ExecAsync(pg.Url, "ALTER DATABASE postgres SET default_tablespace = small");
            await using var relay = await TestRelay.StartAsync(o => o with { DatabaseUrl = pg.Url });
            await using var client = await relay.ConnectAsync();
            using var signer = EventSigner.Random();
            var random = new Random(3);
            string Padding() => Convert.ToBase64String(Enumerable.Range(0, 12_000).Select(_ => (byte)random.Next(256)).ToArray());

            // Publish until the disk refuses: every answer is OK true or an error: refusal.
            var acknowledged = new List<string>();
            var refusals = new List<string>();
            for (var i = 0; i < 1000 && refusals.Count < 5; i++)
            {
                var e = signer.Sign(1, $"{i} {Padding()}");
                var (ok, message) = await client.PublishAsync(e);
                if (ok) acknowledged.Add(RelayClientExtensions.IdOf(e));
                else refusals.Add(message);
            }
            Assert.Equal(5, refusals.Count);   // the 3 MB filled up
            Assert.All(refusals, m => Assert.StartsWith("error:", m));
            Assert.NotEmpty(acknowledged);

            // Reads go on, and every acknowledged event is there.
            var stored = new HashSet<string>();
            foreach (var chunk in acknowledged.Chunk(100))
                stored.UnionWith(await client.QueryIdsAsync("check", $"{{\"ids\":[{string.Join(',', chunk.Select(id => $"\"{id}\""))}]}}"));
            Assert.Equal(acknowledged.Order(), stored.Order());

            // Space comes back: writes resume by themselves.
            Run("mount", "-o", "remount,size=64m", mount);
            var after = signer.Sign(1, "after the disk was freed");
            Assert.True((await client.PublishAsync(after)).Accepted);
            Assert.Equal([RelayClientExtensions.IdOf(after)], await client.QueryIdsAsync("after", $"{{\"ids\":[\"{RelayClientExtensions.IdOf(after)}\"]}}"));
        }
        finally
        {
            try { Run("umount", "-l", mount); } catch (InvalidOperationException) { }
            try { Directory.Delete(mount); } catch (IOException) { }
        }
    }
}

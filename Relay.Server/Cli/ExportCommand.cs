using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using Relay.Server.Configuration;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server.Cli;

/// `relay export [--filter JSON] [--since T] [--until T] [--oldest-first] [FILE|-]`: the stored
/// events as JSONL (each event's stored JSON, as clients receive it), newest first by default.
/// Read through a server-side cursor a page at a time, so memory stays flat on any database.
internal static class ExportCommand
{
    private const int PageSize = 1000;

    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> env, string[] args, Stream stdout, TextWriter errors,
        CancellationToken ct = default)
    {
        if (!CommandOptions.TryLoadFileCommand(env, args, ["--oldest-first"], ["--filter", "--since", "--until"], "export", errors,
                out var parts, out var options, out var path)) return 2;
        if (ReadFilter(parts, out var error) is not { } filter) { errors.WriteLine($"relay: {error}"); return 2; }

        if (CommandOptions.OpenDatabase(options, errors) is not { } opened) return 2;
        await using var db = opened;
        // A file is written beside its name and renamed once complete: a failed export never
        // leaves a truncated backup where the last good one was.
        var partial = path == "-" ? null : path + ".partial";
        Stream output;
        try { output = partial is null ? stdout : new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { errors.WriteLine($"relay: cannot write {path}: {e.Message}"); return 2; }
        var completed = false;
        var clock = Stopwatch.StartNew();
        long count = 0;
        using var progress = new Timer(_ => errors.WriteLine($"export: {Interlocked.Read(ref count)} events, " +
            $"{Interlocked.Read(ref count) / clock.Elapsed.TotalSeconds:N0} events/s"), null, 1000, 1000);
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            // One snapshot for the whole export (REPEATABLE READ): events written meanwhile are
            // neither half in nor counted twice.
            await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
            await using (var declare = EventQuery.BuildExport(filter, parts.Switches.Contains("--oldest-first"), DateTimeOffset.UtcNow.ToUnixTimeSeconds()))
            {
                declare.CommandText = "DECLARE relay_export NO SCROLL CURSOR FOR " + declare.CommandText;
                declare.Connection = conn;
                declare.Transaction = tx;
                await declare.ExecuteNonQueryAsync(ct);
            }
            await using var fetch = new NpgsqlCommand($"FETCH FORWARD {PageSize} FROM relay_export", conn, tx);
            await using var buffered = new BufferedStream(output, 1 << 16);
            while (true)
            {
                var page = 0;
                await using (var reader = await fetch.ExecuteReaderAsync(ct))
                    while (await reader.ReadAsync(ct))
                    {
                        await buffered.WriteAsync(reader.GetFieldValue<byte[]>(0), ct);
                        buffered.WriteByte((byte)'\n');
                        page++;
                    }
                Interlocked.Add(ref count, page);
                if (page < PageSize) break;
            }
            await buffered.FlushAsync(ct);
            await tx.CommitAsync(ct);
            completed = true;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or IOException)
        {
            errors.WriteLine($"relay: export failed after {Interlocked.Read(ref count)} events: {e.Message}");
            return 1;
        }
        finally
        {
            await progress.DisposeAsync();
            if (partial is not null)
            {
                await output.DisposeAsync();
                if (completed) File.Move(partial, path, overwrite: true);
                else File.Delete(partial);
            }
        }
        errors.WriteLine($"export: done in {clock.Elapsed.TotalSeconds:F1} s: {count} events");
        return 0;
    }

    /// The NIP-01 filter from --filter, narrowed by --since/--until (Unix seconds).
    private static NostrFilter? ReadFilter(CommandArgs parts, out string? error)
    {
        var filter = new NostrFilter();
        error = null;
        if (parts.Values.TryGetValue("--filter", out var json))
        {
            try
            {
                var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
                reader.Read();
                filter = FilterParser.TryParse(ref reader, out var why)!;
                if (filter is null) { error = $"--filter is not a NIP-01 filter: {why}"; return null; }
            }
            catch (JsonException) { error = "--filter must be a JSON object, e.g. '{\"kinds\":[1],\"authors\":[\"…\"]}'"; return null; }
        }
        string? bad = null;
        long? Time(string flag, long? current)
        {
            if (!parts.Values.TryGetValue(flag, out var v)) return current;
            if (long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var t)) return t;
            bad = $"{flag} must be a Unix time in seconds, got '{v}'";
            return null;
        }
        // The flags narrow the filter's own range, never widen it.
        var since = Max(Time("--since", null), filter.Since);
        var until = Min(Time("--until", null), filter.Until);
        if ((error = bad) is not null) return null;
        static long? Max(long? a, long? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);
        static long? Min(long? a, long? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);
        return new NostrFilter
        {
            Ids = filter.Ids, Authors = filter.Authors, Kinds = filter.Kinds, Tags = filter.Tags, Limit = filter.Limit, Since = since, Until = until,
        };
    }
}

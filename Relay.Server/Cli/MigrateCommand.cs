using Npgsql;
using Relay.Storage.Postgres;

namespace Relay.Server.Cli;

/// `relay migrate`: applies the database migrations the binary carries and exits (for an upgrade
/// step before the new relays start, or to check a database URL).
internal static class MigrateCommand
{
    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> env, string[] args, TextWriter output, TextWriter errors)
    {
        if (!CommandOptions.TryLoad(env, args, errors, out var options)) return 2;
        if (CommandOptions.OpenDatabase(options, errors) is not { } opened) return 2;
        await using var db = opened;
        try
        {
            var applied = await Migrator.ApplyAsync(db, name => output.WriteLine($"applying {name}"));
            output.WriteLine(applied == 0 ? "the database is up to date" : $"applied {applied} migration(s)");
            return 0;
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            errors.WriteLine($"relay: cannot migrate: {e.Message}");
            return 1;
        }
    }
}

using Relay.Storage.Postgres;

namespace Relay.Server.Cli;

/// `relay migrate`: applies the database migrations the binary carries and exits (for an upgrade
/// step before the new relays start, or to check a database URL).
internal static class MigrateCommand
{
    public static Task<int> RunAsync(IReadOnlyDictionary<string, string> env, string[] args, TextWriter output, TextWriter errors) =>
        CommandOptions.RunOnDatabaseAsync(env, args, errors, "cannot migrate", async db =>
        {
            var applied = await Migrator.ApplyAsync(db, name => output.WriteLine($"applying {name}"));
            output.WriteLine(applied == 0 ? "the database is up to date" : $"applied {applied} migration(s)");
            return 0;
        });
}

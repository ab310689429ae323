using Npgsql;
using Relay.Server.Configuration;
using Relay.Storage.Postgres;

namespace Relay.Server.Cli;

/// What every command does first: read the settings (a bad one is reported and the command
/// exits 2), and, for the database commands, open the database they name.
internal static class CommandOptions
{
    public static bool TryLoad(IReadOnlyDictionary<string, string> env, string[] args, TextWriter errors, out RelayOptions options)
    {
        try
        {
            options = OptionsLoader.Load(env, args);
            return true;
        }
        catch (OptionsException e)
        {
            errors.WriteLine($"relay: {e.Message}");
            options = null!;
            return false;
        }
    }

    public static NpgsqlDataSource OpenDatabase(RelayOptions options) =>
        new NpgsqlSlimDataSourceBuilder(DatabaseUrl.Parse(options.DatabaseUrl).ConnectionString).Build();
}

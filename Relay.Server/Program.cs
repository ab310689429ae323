using Relay.Server;
using Relay.Server.Cli;
using Relay.Server.Configuration;

// relay [serve] [flags] | migrate | stats | import [FILE] | export [FILE] | healthcheck [--port N] | --help | --version
// Each command is one file in Cli/; this only dispatches.
var env = OptionsLoader.ProcessEnvironment();
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(OptionsLoader.Help);
    return 0;
}
if (args.Contains("--version"))
{
    Console.WriteLine($"relay {RelayHost.Version}");
    return 0;
}
return args.FirstOrDefault() switch
{
    "healthcheck" or "health" => await HealthcheckCommand.RunAsync(env, args[1..]),
    "migrate" => await MigrateCommand.RunAsync(env, args[1..], Console.Out, Console.Error),
    "stats" => await StatsCommand.RunAsync(env, args[1..], Console.Out, Console.Error),
    "import" => await ImportCommand.RunAsync(env, args[1..], Console.OpenStandardInput(), Console.Error),
    "export" => await ExportCommand.RunAsync(env, args[1..], Console.OpenStandardOutput(), Console.Error),
    "serve" => await ServeCommand.RunAsync(env, args[1..]),
    _ => await ServeCommand.RunAsync(env, args),
};

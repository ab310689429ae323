using Relay.Server;
using Relay.Server.Cli;
using Relay.Server.Configuration;

// relay [serve] [flags] | relay migrate | relay stats | relay healthcheck [--port N] | relay --help | relay --version
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
    "serve" => await ServeCommand.RunAsync(env, args[1..]),
    _ => await ServeCommand.RunAsync(env, args),
};

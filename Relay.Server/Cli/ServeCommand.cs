using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Relay.Server.Configuration;

namespace Relay.Server.Cli;

/// `relay` / `relay serve [--flag value …]`: runs the relay until SIGTERM or SIGINT.
internal static class ServeCommand
{
    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> env, string[] args)
    {
        if (!CommandOptions.TryLoad(env, args, Console.Error, out var options)) return 2;

        using var loggers = Observability.RelayLogging.Create(options);

        var stop = new TaskCompletionSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });

        RelayHost host;
        try
        {
            host = await RelayHost.StartAsync(options, loggers);
        }
        catch (Exception e) when (e is InvalidOperationException or Npgsql.NpgsqlException or SocketException or ArgumentException or FormatException)
        {
            Console.Error.WriteLine($"relay: cannot start: {e.Message}");
            return 1;
        }
        await stop.Task;
        await host.StopAsync();
        return 0;
    }
}

using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Relay.Server;
using Relay.Server.Configuration;

// relay [serve] [flags] | relay health [--port N] | relay --help
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(OptionsLoader.Help);
    return 0;
}
if (args.Length > 0 && args[0] == "health") return await HealthCheck.RunAsync(args[1..]);
if (args.Length > 0 && args[0] == "serve") args = args[1..];

RelayOptions options;
try
{
    options = OptionsLoader.Load(OptionsLoader.ProcessEnvironment(), args);
}
catch (OptionsException e)
{
    Console.Error.WriteLine($"relay: {e.Message}");
    return 2;
}

using var loggers = LoggerFactory.Create(b => b
    .SetMinimumLevel(Environment.GetEnvironmentVariable("LOG_LEVEL") is { } l && Enum.TryParse<LogLevel>(l, true, out var level) ? level : LogLevel.Information)
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff "; }));

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

/// `relay health`: GET /health on the local port, for Docker's HEALTHCHECK.
internal static class HealthCheck
{
    public static async Task<int> RunAsync(string[] args)
    {
        var port = Environment.GetEnvironmentVariable("RELAY_PORT") ?? "8008";
        for (var i = 0; i + 1 < args.Length; i++) if (args[i] == "--port") port = args[i + 1];
        try
        {
            using var client = new TcpClient();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await client.ConnectAsync("127.0.0.1", int.Parse(port), cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"u8.ToArray(), cts.Token);
            var buffer = new byte[64];
            var n = await stream.ReadAtLeastAsync(buffer, 12, throwOnEndOfStream: false, cts.Token);
            return n >= 12 && System.Text.Encoding.ASCII.GetString(buffer, 0, 12) == "HTTP/1.1 200" ? 0 : 1;
        }
        catch (Exception)
        {
            return 1;
        }
    }
}

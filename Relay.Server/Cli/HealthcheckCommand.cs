using System.Net.Sockets;

namespace Relay.Server.Cli;

/// `relay healthcheck [--port N]` (alias `health`): exit 0 when GET /health on the local port
/// answers 200, else 1. Docker's HEALTHCHECK runs it inside the image.
internal static class HealthcheckCommand
{
    public static async Task<int> RunAsync(IReadOnlyDictionary<string, string> env, string[] args)
    {
        // The port the relay listens on: RELAY_PORT, else nostpy's WS_PORT (as OptionsLoader reads them).
        var port = env.TryGetValue("RELAY_PORT", out var p) && p.Length > 0 ? p
            : env.TryGetValue("WS_PORT", out var ws) && ws.Length > 0 ? ws : "8008";
        for (var i = 0; i + 1 < args.Length; i++) if (args[i] == "--port") port = args[i + 1];
        if (!int.TryParse(port, out var portNumber) || portNumber is < 1 or > 65535) return 1;
        try
        {
            using var client = new TcpClient();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await client.ConnectAsync("127.0.0.1", portNumber, cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"u8.ToArray(), cts.Token);
            var buffer = new byte[64];
            var n = await stream.ReadAtLeastAsync(buffer, 12, throwOnEndOfStream: false, cts.Token);
            return n >= 12 && System.Text.Encoding.ASCII.GetString(buffer, 0, 12) == "HTTP/1.1 200" ? 0 : 1;
        }
        catch (Exception)
        {
            return 1;   // refused, reset, timed out: not healthy
        }
    }
}

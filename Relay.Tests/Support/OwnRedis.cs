using System.Diagnostics;

namespace Relay.Tests.Support;

/// A Redis server of the test's own (redis-server on a free port), which the test may stop and
/// start again on the same port without touching the shared one.
internal sealed class OwnRedis : IAsyncDisposable
{
    private Process? _server;
    public int Port { get; } = RelayProcess.FreePort();
    public string Url => $"redis://127.0.0.1:{Port}";

    public static async Task<OwnRedis> StartAsync()
    {
        var redis = new OwnRedis();
        await redis.StartAgainAsync();
        return redis;
    }

    public async Task StartAgainAsync()
    {
        _server = Process.Start(new ProcessStartInfo("redis-server",
            ["--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var tcp = new System.Net.Sockets.TcpClient();
                await tcp.ConnectAsync("127.0.0.1", Port);
                return;
            }
            catch (System.Net.Sockets.SocketException) { await Task.Delay(50); }
        }
        throw new InvalidOperationException($"redis-server did not start on port {Port}");
    }

    /// Kills the server (as a crash or a lost host would), dropping every connection.
    public async Task StopAsync()
    {
        if (_server is null) return;
        _server.Kill();
        await _server.WaitForExitAsync();
        _server.Dispose();
        _server = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}

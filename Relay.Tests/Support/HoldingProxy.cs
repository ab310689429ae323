using System.Net;
using System.Net.Sockets;

namespace Relay.Tests.Support;

/// A TCP proxy in front of a server (Redis) that can hold back what the server sends, standing
/// for a bus that delivers late: while held, the server's bytes wait here, then go on in order.
internal sealed class HoldingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _sockets = [];
    private volatile TaskCompletionSource _released = Released();
    private readonly Task _accepting;

    private HoldingProxy(int target)
    {
        _target = target;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public string RedisUrl => $"redis://127.0.0.1:{Port}";

    public static HoldingProxy Start(int targetPort) => new(targetPort);

    /// From now on, what the server sends is held here.
    public void Hold() => _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// Sends everything held, in order, and forwards at once again.
    public void Release() => _released.TrySetResult();

    private static TaskCompletionSource Released()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var server = new TcpClient();
                await server.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
                lock (_sockets) _sockets.AddRange([client, server]);
                _ = PumpAsync(client.GetStream(), server.GetStream(), holdable: false);
                _ = PumpAsync(server.GetStream(), client.GetStream(), holdable: true);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, bool holdable)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                if (holdable) await _released.Task.WaitAsync(_stop.Token);
                await to.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or SocketException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_sockets) foreach (var s in _sockets) s.Dispose();
        await _accepting;
    }
}

using System.Net;
using System.Net.Sockets;
using Relay.Server.Http;

namespace Relay.Server.Transport;

/// The accept loop: one socket per client, each run on its own task.
internal sealed class Listener(ConnectionContext ctx) : IDisposable
{
    private Socket? _socket;
    private Task? _loop;
    // A descriptor held in reserve: when accept fails for want of descriptors (something else
    // used them), it is given up to accept the waiting client and tell it 503 instead of leaving
    // it hanging, then taken again.
    private Microsoft.Win32.SafeHandles.SafeFileHandle? _spare;

    private static Microsoft.Win32.SafeHandles.SafeFileHandle? OpenSpare()
    {
        try { return File.OpenHandle("/dev/null"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private const int SolSocket = 1, SoReuseAddr = 2;   // <sys/socket.h> on Linux

    public int Port { get; private set; }

    /// MAX_CONNECTIONS, capped by the open-file limit at Start.
    public int MaxConnections { get; private set; }

    public void Start(string host, int port)
    {
        var limit = OpenFileLimit.Raise();
        MaxConnections = OpenFileLimit.Cap(ctx.Options.MaxConnections, limit, OpenFileLimit.OpenNow() + ctx.Options.DatabasePoolSize, ctx.Log.FileLimit);
        _spare = OpenSpare();
        WarnIfSendBufferCapped();
        var address = host is "*" or "" ? IPAddress.Any : IPAddress.Parse(host);
        _socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        // SO_REUSEADDR alone: a restarted relay can bind while old connections sit in TIME_WAIT.
        // Not SocketOptionName.ReuseAddress, which on Linux also sets SO_REUSEPORT and would let a
        // second relay bind the same port and silently take half of the connections.
        if (OperatingSystem.IsLinux()) _socket.SetRawSocketOption(SolSocket, SoReuseAddr, [1, 0, 0, 0]);
        try
        {
            _socket.Bind(new IPEndPoint(address, port));
        }
        catch
        {
            _socket.Dispose();
            _socket = null;
            throw;
        }
        _socket.Listen(1024);
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
        _loop = AcceptLoopAsync(_socket);
    }

    /// Linux caps SO_SNDBUF at net.core.wmem_max without a word: say so once, with the way out,
    /// when the cap is less than half what was asked (Debian's default 208 KiB against the
    /// default 256 is close enough not to be worth a warning at every start).
    private void WarnIfSendBufferCapped()
    {
        if (ctx.Options.SendBufferBytes <= 0 || !OperatingSystem.IsLinux()) return;
        try
        {
            if (long.TryParse(File.ReadAllText("/proc/sys/net/core/wmem_max").Trim(), out var max) && ctx.Options.SendBufferBytes > 2 * max)
                ctx.Log.SendBufferCapped(ctx.Options.SendBufferBytes / 1024, max / 1024);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private async Task AcceptLoopAsync(Socket listen)
    {
        var backOff = 0;
        var failures = 0;
        var loggedAt = 0L;
        while (true)
        {
            Socket client;
            try
            {
                client = await listen.AcceptAsync();
                backOff = 0;
            }
            catch (ObjectDisposedException) { return; }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted) { return; }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TooManyOpenSockets && _spare is not null)
            {
                _spare.Dispose();
                _spare = null;
                try
                {
                    // The client whose accept failed is still waiting: take it with the freed
                    // descriptor (briefly, in case another thread took the descriptor first).
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                    using var waiting = await listen.AcceptAsync(cts.Token);
                    ctx.Metrics.ConnectionsRefused.Increment();
                    waiting.Send(HttpResponses.Text(503, "Service Unavailable", "too many open files\n", "Retry-After: 10\r\n"));
                }
                catch (Exception x) when (x is SocketException or OperationCanceledException) { }
                catch (ObjectDisposedException) { return; }   // stopping
                if (!_stopping) _spare = OpenSpare();
                continue;
            }
            catch (SocketException e)
            {
                // Transient (peer reset before accept) or resource pressure (EMFILE): back off,
                // longer each time it repeats (up to a second), and say so at most every 10 s.
                failures++;
                var now = Environment.TickCount64;
                if (now - loggedAt > 10_000)
                {
                    ctx.Log.AcceptFailed($"{e.SocketErrorCode} ({failures} since the last report)");
                    loggedAt = now;
                    failures = 0;
                }
                backOff = Math.Min(1000, Math.Max(10, backOff * 2));
                await Task.Delay(backOff);
                if (_spare is null && !_stopping) _spare = OpenSpare();   // taken back once descriptors free up
                continue;
            }
            client.NoDelay = true;
            if (ctx.Options.SendBufferBytes > 0) client.SendBufferSize = ctx.Options.SendBufferBytes;
            if (ctx.Connections.Count >= MaxConnections)
            {
                ctx.Metrics.ConnectionsRefused.Increment();
                _ = RefuseAsync(client);
                continue;
            }
            var conn = new ClientConnection(client, ctx);
            ctx.Connections.Add(conn);
            _ = Task.Run(conn.RunAsync);
        }
    }

    private static async Task RefuseAsync(Socket client)
    {
        using (client)
        {
            try { await client.SendAsync(HttpResponses.Text(503, "Service Unavailable", "too many connections\n", "Retry-After: 10\r\n"), SocketFlags.None); }
            catch (SocketException) { }
        }
    }

    private volatile bool _stopping;

    public async Task StopAsync()
    {
        _stopping = true;
        _spare?.Dispose();
        _socket?.Dispose();
        if (_loop is not null) await _loop;
    }

    public void Dispose() => _socket?.Dispose();
}

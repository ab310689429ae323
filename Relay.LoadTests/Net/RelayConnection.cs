using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Relay.LoadTests.Net;

/// One client connection: a ClientWebSocket (no keep-alive pings, so the only traffic is ours)
/// plus a growable buffer that reassembles whole text messages. One sender and one receiver may
/// use it at the same time (ClientWebSocket allows one of each), never two of either.
internal sealed class RelayConnection : IDisposable
{
    /// Largest message we reassemble; the relays under test cap events at 64-512 KiB.
    private const int MaxMessageBytes = 16 << 20;

    private readonly ClientWebSocket _ws;
    private HttpMessageInvoker? _invoker;
    private byte[] _buffer;
    private int _length;

    private RelayConnection(ClientWebSocket ws, int bufferBytes)
    {
        _ws = ws;
        _buffer = new byte[bufferBytes];
    }

    /// The client-side TCP port, when opened with trackLocalPort (0 otherwise): used to find
    /// the socket in /proc/net/tcp without reading from it.
    public int LocalPort { get; private set; }

    public WebSocketState State => _ws.State;

    public WebSocketCloseStatus? CloseStatus => _ws.CloseStatus;

    public string? CloseStatusDescription => _ws.CloseStatusDescription;

    /// The last message returned by <see cref="ReceiveAsync"/>; valid until the next call.
    public ReadOnlySpan<byte> Message => _buffer.AsSpan(0, _length);

    public static async Task<RelayConnection> OpenAsync(Uri url, CancellationToken ct, int bufferBytes = 8192, bool trackLocalPort = false)
    {
        var ws = new ClientWebSocket();
        // No client pings: they would add traffic the relay has to answer and blur the figures.
        ws.Options.KeepAliveInterval = TimeSpan.Zero;
        var conn = new RelayConnection(ws, bufferBytes);
        try
        {
            if (trackLocalPort)
            {
                // A handler of its own, so its connect callback knows which connection it serves.
                var handler = new SocketsHttpHandler
                {
                    ConnectCallback = async (ctx, token) =>
                    {
                        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                        try
                        {
                            await socket.ConnectAsync(ctx.DnsEndPoint, token).ConfigureAwait(false);
                            conn.LocalPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
                            return new NetworkStream(socket, ownsSocket: true);
                        }
                        catch
                        {
                            socket.Dispose();
                            throw;
                        }
                    },
                };
                conn._invoker = new HttpMessageInvoker(handler);
                await ws.ConnectAsync(url, conn._invoker, ct).ConfigureAwait(false);
            }
            else
            {
                await ws.ConnectAsync(url, ct).ConfigureAwait(false);
            }
        }
        catch
        {
            conn.Dispose();
            throw;
        }
        return conn;
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> text, CancellationToken ct) =>
        _ws.SendAsync(text, WebSocketMessageType.Text, endOfMessage: true, ct);

    /// Reads one whole message into <see cref="Message"/>. False when the relay sent a close frame
    /// (see <see cref="CloseStatus"/>); a reset or an abort throws WebSocketException.
    public async ValueTask<bool> ReceiveAsync(CancellationToken ct)
    {
        _length = 0;
        while (true)
        {
            if (_length == _buffer.Length)
            {
                if (_buffer.Length >= MaxMessageBytes) throw new WebSocketException($"message larger than {MaxMessageBytes} bytes");
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }
            var r = await _ws.ReceiveAsync(_buffer.AsMemory(_length), ct).ConfigureAwait(false);
            if (r.MessageType == WebSocketMessageType.Close) return false;
            _length += r.Count;
            if (r.EndOfMessage) return true;
        }
    }

    /// Sends our close frame if the socket is still usable (without waiting for the relay's),
    /// then releases it.
    public async Task CloseAsync(TimeSpan timeout)
    {
        try
        {
            if (_ws.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var cts = new CancellationTokenSource(timeout);
                await _ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "load test done", cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The relay went first, or the socket is already gone: nothing left to say.
        }
        Dispose();
    }

    public void Dispose()
    {
        _ws.Dispose();
        _invoker?.Dispose();
    }
}

using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text;

namespace Relay.LoadTests.Net;

/// One client WebSocket connection (ws:// only) on a raw socket. ClientWebSocket's layers (HTTP
/// connection stream, buffered reads, a cancellation registration and async steps per frame) were
/// a large share of the load generator's CPU at 100k messages/s, CPU taken from the relay under
/// test. Here each connection has one receive buffer, reads as much as the socket has, and parses
/// every whole frame in it synchronously; it only awaits when it needs more bytes.
///
/// One receiver at a time, and one sender at a time by convention. Sends are serialised inside
/// anyway, because ReceiveAsync answers pings with a pong that may race the caller's send; a send
/// may run while a receive is pending. No keep-alive pings are sent: the only traffic is ours.
internal sealed class RelayConnection : IDisposable
{
    /// Largest message we reassemble; the relays under test cap events at 64-512 KiB.
    private const int MaxMessageBytes = 16 << 20;

    /// Room for the largest message plus the frame being read around it (header, or a control
    /// frame between fragments).
    private const int MaxBufferBytes = MaxMessageBytes + 128;

    /// The response to the upgrade must fit this; a relay's is a few hundred bytes.
    private const int MaxHandshakeHeadBytes = 16 * 1024;

    // ClientWebSocket's wording for a broken connection, so error tables in reports read as before.
    private const string ClosedWithoutHandshake = "The remote party closed the WebSocket connection without completing the close handshake.";

    private static readonly byte[] ClosePayload = [0x03, 0xE8, .. "load test done"u8]; // 1000, big-endian

    private readonly Socket _socket;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Lock _stateLock = new();
    private volatile WebSocketState _state = WebSocketState.Connecting;

    // The receive buffer. [_frameStart, _end) has arrived but is not parsed yet.
    private byte[] _buffer;
    private int _frameStart;
    private int _end;
    // Size of the incomplete frame at _frameStart once its header is known (0 before), so the
    // buffer can grow to fit it in one step.
    private int _pendingFrameBytes;
    // While a fragmented message is open, its payload so far lies at [_fragmentsStart, +_fragmentsLength):
    // each continuation's payload is moved down next to the previous one.
    private bool _inFragmentedMessage;
    private int _fragmentsStart;
    private int _fragmentsLength;
    private int _messageStart;
    private int _messageLength;
    private int _pingStart;
    private int _pingLength;

    private enum Step { Message, Close, Ping, NeedBytes }

    private RelayConnection(Socket socket, int bufferBytes)
    {
        _socket = socket;
        _buffer = new byte[Math.Max(bufferBytes, 16)];
    }

    /// The client-side TCP port: used to find the socket in /proc/net/tcp without reading from it.
    public int LocalPort { get; private set; }

    public WebSocketState State => _state;

    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public string? CloseStatusDescription { get; private set; }

    /// The last message returned by <see cref="ReceiveAsync"/>; valid until the next call.
    public ReadOnlySpan<byte> Message => _buffer.AsSpan(_messageStart, _messageLength);

    /// Connects and upgrades. Failures surface as WebSocketException (a refused TCP connect, a
    /// relay answering 503, a bad handshake) or OperationCanceledException, as with ClientWebSocket.
    /// <paramref name="trackLocalPort"/> is kept for callers: <see cref="LocalPort"/> is always set.
    public static async Task<RelayConnection> OpenAsync(Uri url, CancellationToken ct, int bufferBytes = 8192, bool trackLocalPort = false)
    {
        if (url.Scheme != "ws") throw new NotSupportedException($"{url.Scheme}:// is not supported: this client speaks plain ws:// only");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var conn = new RelayConnection(socket, bufferBytes);
        try
        {
            EndPoint endPoint = IPAddress.TryParse(url.DnsSafeHost, out var ip) ? new IPEndPoint(ip, url.Port) : new DnsEndPoint(url.DnsSafeHost, url.Port);
            await socket.ConnectAsync(endPoint, ct).ConfigureAwait(false);
            conn.LocalPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
            await conn.UpgradeAsync(url, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            conn.Dispose();
            throw new WebSocketException(WebSocketError.Faulted, "Unable to connect to the remote server", e);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
        return conn;
    }

    /// Sends the upgrade request and reads the response head. Bytes after the head are already
    /// frames, so they stay in the buffer for the first ReceiveAsync.
    private async Task UpgradeAsync(Uri url, CancellationToken ct)
    {
        var (request, expectedAccept) = WebSocketHandshake.BuildRequest(url);
        for (var sent = 0; sent < request.Length;)
            sent += await _socket.SendAsync(request.AsMemory(sent), SocketFlags.None, ct).ConfigureAwait(false);
        while (true)
        {
            if (_end == _buffer.Length)
            {
                if (_buffer.Length >= MaxHandshakeHeadBytes) throw new WebSocketException(WebSocketError.HeaderError, $"handshake response head longer than {MaxHandshakeHeadBytes} bytes");
                Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxHandshakeHeadBytes));
            }
            var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0) throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, "The relay closed the connection during the handshake");
            _end += read;
            var headLength = WebSocketHandshake.HeadLength(_buffer.AsSpan(0, _end));
            if (headLength < 0) continue;
            WebSocketHandshake.Validate(_buffer.AsSpan(0, headLength), expectedAccept);
            _frameStart = headLength;
            _state = WebSocketState.Open;
            return;
        }
    }

    /// Sends one text message as a single masked frame. See the class comment on concurrency.
    public ValueTask SendAsync(ReadOnlyMemory<byte> text, CancellationToken ct) => SendFrameAsync(WebSocketFrame.Text, text.Span, ct);

    /// Builds the frame now (so the payload may be a span into the receive buffer, for a pong),
    /// then sends it under the send lock.
    private ValueTask SendFrameAsync(byte opcode, ReadOnlySpan<byte> payload, CancellationToken ct)
    {
        if (_state is not (WebSocketState.Open or WebSocketState.CloseReceived))
            return ValueTask.FromException(new WebSocketException(WebSocketError.InvalidState, $"cannot send in state {_state}"));
        var frame = ArrayPool<byte>.Shared.Rent(WebSocketFrame.ClientFrameLength(payload.Length));
        var length = WebSocketFrame.WriteClientFrame(frame, opcode, payload);
        return SendAndReturnAsync(frame, length, ct);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SendAndReturnAsync(byte[] frame, int length, CancellationToken ct)
    {
        try
        {
            await _sendLock.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                for (var sent = 0; sent < length;)
                    sent += await _socket.SendAsync(frame.AsMemory(sent, length - sent), SocketFlags.None, ct).ConfigureAwait(false);
            }
            finally
            {
                _sendLock.Release();
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            Abort();
            throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, ClosedWithoutHandshake, AsTransportError(e, "write data to"));
        }
        catch (OperationCanceledException)
        {
            // A frame cut short would corrupt the stream, so a cancelled send ends the connection
            // (as it does with ClientWebSocket).
            Abort();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// Reads one whole text or binary message into <see cref="Message"/>. False when the relay
    /// sent a close frame (see <see cref="CloseStatus"/>). A reset or a stream ended without a
    /// close frame throws WebSocketException; cancelling throws OperationCanceledException. Either
    /// aborts the connection, as with ClientWebSocket.
    public ValueTask<bool> ReceiveAsync(CancellationToken ct)
    {
        if (_state is not (WebSocketState.Open or WebSocketState.CloseSent))
            return ValueTask.FromException<bool>(new WebSocketException(WebSocketError.InvalidState, $"cannot receive in state {_state}"));
        Step step;
        try
        {
            ct.ThrowIfCancellationRequested();
            // Most calls find their message already in the buffer: no await, no state machine.
            step = ParseBufferedFrames();
        }
        catch (Exception e)
        {
            Abort();
            return ValueTask.FromException<bool>(e);
        }
        return step switch
        {
            Step.Message => new ValueTask<bool>(true),
            Step.Close => new ValueTask<bool>(false),
            _ => ReceiveMoreAsync(step, ct),
        };
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReceiveMoreAsync(Step step, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                if (step == Step.Ping)
                {
                    if (_state == WebSocketState.Open)
                        await SendFrameAsync(WebSocketFrame.Pong, _buffer.AsSpan(_pingStart, _pingLength), ct).ConfigureAwait(false);
                }
                else
                {
                    MakeRoomToRead();
                    // A token that cannot be cancelled costs Socket nothing; one that can is only
                    // registered if the receive has to wait.
                    var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, ct).ConfigureAwait(false);
                    if (read == 0) throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, ClosedWithoutHandshake);
                    _end += read;
                }
                step = ParseBufferedFrames();
                if (step == Step.Message) return true;
                if (step == Step.Close) return false;
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            Abort();
            throw new WebSocketException(WebSocketError.ConnectionClosedPrematurely, ClosedWithoutHandshake, AsTransportError(e, "read data from"));
        }
        catch
        {
            Abort();
            throw;
        }
    }

    private static IOException AsTransportError(Exception e, string readDataFromOrWriteDataTo) =>
        e as IOException ?? new IOException($"Unable to {readDataFromOrWriteDataTo} the transport connection: {e.Message}.", e);

    /// Consumes whole frames from the buffer until one completes a message, a close or a ping
    /// arrives, or the next frame is incomplete.
    private Step ParseBufferedFrames()
    {
        while (true)
        {
            var unparsed = _buffer.AsSpan(_frameStart, _end - _frameStart);
            if (!WebSocketFrame.TryReadServerHeader(unparsed, out var header))
            {
                _pendingFrameBytes = 0;
                return Step.NeedBytes;
            }
            if (!header.IsControl && (_inFragmentedMessage ? _fragmentsLength : 0) + header.PayloadLength > MaxMessageBytes)
                throw new WebSocketException($"message larger than {MaxMessageBytes} bytes");
            if (unparsed.Length < header.FrameLength)
            {
                _pendingFrameBytes = (int)header.FrameLength;
                return Step.NeedBytes;
            }
            var payloadStart = _frameStart + header.HeaderLength;
            var payloadLength = (int)header.PayloadLength;
            _frameStart = payloadStart + payloadLength;
            switch (header.Opcode)
            {
                case WebSocketFrame.Text or WebSocketFrame.Binary when !_inFragmentedMessage:
                    if (header.Fin)
                    {
                        // The common case: the message is read where it lies, no copy.
                        _messageStart = payloadStart;
                        _messageLength = payloadLength;
                        return Step.Message;
                    }
                    _inFragmentedMessage = true;
                    _fragmentsStart = payloadStart;
                    _fragmentsLength = payloadLength;
                    break;
                case WebSocketFrame.Continuation when _inFragmentedMessage:
                    // Close the gap this frame's header (and any control frame) left behind.
                    _buffer.AsSpan(payloadStart, payloadLength).CopyTo(_buffer.AsSpan(_fragmentsStart + _fragmentsLength));
                    _fragmentsLength += payloadLength;
                    if (header.Fin)
                    {
                        _inFragmentedMessage = false;
                        _messageStart = _fragmentsStart;
                        _messageLength = _fragmentsLength;
                        return Step.Message;
                    }
                    break;
                case WebSocketFrame.Text or WebSocketFrame.Binary:
                    throw WebSocketFrame.ProtocolError("new message inside a fragmented one");
                case WebSocketFrame.Continuation:
                    throw WebSocketFrame.ProtocolError("continuation frame with no message to continue");
                case WebSocketFrame.Ping:
                    _pingStart = payloadStart;
                    _pingLength = payloadLength;
                    return Step.Ping;
                case WebSocketFrame.Pong:
                    break;
                case WebSocketFrame.Close:
                    OnCloseFrame(_buffer.AsSpan(payloadStart, payloadLength));
                    return Step.Close;
            }
        }
    }

    private void OnCloseFrame(ReadOnlySpan<byte> payload)
    {
        if (payload.Length == 1) throw WebSocketFrame.ProtocolError("close frame with a 1-byte payload");
        // No status at all is reported as 1005 (RFC 6455 §7.1.5).
        CloseStatus = payload.Length >= 2 ? (WebSocketCloseStatus)BinaryPrimitives.ReadUInt16BigEndian(payload) : WebSocketCloseStatus.Empty;
        CloseStatusDescription = payload.Length > 2 ? Encoding.UTF8.GetString(payload[2..]) : "";
        lock (_stateLock)
        {
            if (_state == WebSocketState.Open) _state = WebSocketState.CloseReceived;
            else if (_state == WebSocketState.CloseSent) _state = WebSocketState.Closed;
        }
    }

    /// Moves what is still needed to the front of the buffer (the fragments of an unfinished
    /// message, then the unparsed bytes) so the read gets all the space after it, and grows the
    /// buffer when the next frame cannot fit in it.
    private void MakeRoomToRead()
    {
        var fragments = _inFragmentedMessage ? _fragmentsLength : 0;
        var unparsed = _end - _frameStart;
        var needed = fragments + Math.Max(_pendingFrameBytes, unparsed + 1);
        var target = _buffer;
        if (needed > _buffer.Length)
        {
            // Doubling keeps the number of copies small for a run of growing messages.
            target = GC.AllocateUninitializedArray<byte>(Math.Max(needed, Math.Min(_buffer.Length * 2, MaxBufferBytes)));
        }
        // The fragments lie below the unparsed bytes, so moving them first overwrites nothing still needed.
        if (fragments > 0) _buffer.AsSpan(_fragmentsStart, fragments).CopyTo(target);
        _fragmentsStart = 0;
        if (unparsed > 0) _buffer.AsSpan(_frameStart, unparsed).CopyTo(target.AsSpan(fragments));
        _buffer = target;
        _frameStart = fragments;
        _end = fragments + unparsed;
    }

    /// Sends our close frame if the socket is still usable (without waiting for the relay's),
    /// then releases it.
    public async Task CloseAsync(TimeSpan timeout)
    {
        try
        {
            if (_state is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var cts = new CancellationTokenSource(timeout);
                await SendFrameAsync(WebSocketFrame.Close, ClosePayload, cts.Token).ConfigureAwait(false);
                lock (_stateLock)
                {
                    if (_state == WebSocketState.Open) _state = WebSocketState.CloseSent;
                    else if (_state == WebSocketState.CloseReceived) _state = WebSocketState.Closed;
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The relay went first, or the socket is already gone: nothing left to say.
        }
        Dispose();
    }

    /// Tears the connection down after an error or a cancellation.
    private void Abort()
    {
        lock (_stateLock)
        {
            if (_state is not (WebSocketState.Closed or WebSocketState.Aborted)) _state = WebSocketState.Aborted;
        }
        _socket.Dispose();
    }

    public void Dispose()
    {
        lock (_stateLock)
        {
            if (_state is not (WebSocketState.Closed or WebSocketState.Aborted)) _state = WebSocketState.Closed;
        }
        _socket.Dispose();
    }
}

using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Relay.Server.Ingest;
using Relay.Server.Policies;
using Relay.Server.Protocol;
using Relay.Server.Subscriptions;
using Relay.Server.WebSockets;

namespace Relay.Server.Transport;

internal enum ConnectionState : byte { Handshake, WebSocket, Closing, Closed }

/// One accepted socket: an HTTP/1.1 head, then either a plain response or a WebSocket session.
/// This file owns the socket and the outbound queue; the head is handled in
/// ClientConnection.Http.cs and the frame loop in ClientConnection.WebSocket.cs.
internal sealed partial class ClientConnection : IEventSource
{
    private static long s_nextId;

    private readonly Socket _socket;
    private readonly ConnectionContext _ctx;
    private readonly PipeReader _input;
    private readonly SendQueue _outbox = new();
    private List<ArraySegment<byte>>? _segments;   // created by the first large (gathered) send
    private long _queuedBytes;
    // With the kernel left to size the send buffer (SEND_BUFFER_KB=0), what it still held unsent
    // after our last write while a backlog waited (SIOCOUTQ); it counts toward the slow-reader
    // limit. With SO_SNDBUF set, the kernel's share is bounded by it and not measured.
    private long _kernelQueued;
    private volatile bool _dropQueued;       // set when closing a slow reader: skip what's queued, send the close
    private int _closeStarted;
    private readonly CancellationTokenSource _aborted = new();

    private int _state = (int)ConnectionState.Handshake;
    private SemaphoreSlim? _storedAnswers;

    public long Id { get; } = Interlocked.Increment(ref s_nextId);

    /// Its address, NIP-42 state and rate state, as the policies see it.
    public ConnectionSession Session { get; }

    /// Handshake → WebSocket → Closing → Closed, changed only by compare-and-swap (the receive
    /// loop, the send loop, the sweeper and fan-out all close connections).
    public ConnectionState State => (ConnectionState)Volatile.Read(ref _state);

    private bool TryMove(ConnectionState from, ConnectionState to) =>
        Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from;

    /// To Closing from whatever open state it is in; false if it was already closing or closed.
    private bool MoveToClosing() => TryMove(ConnectionState.WebSocket, ConnectionState.Closing) || TryMove(ConnectionState.Handshake, ConnectionState.Closing);

    /// One stored answer at a time per connection (see ReqHandler); created with the first REQ.
    public SemaphoreSlim StoredAnswers
    {
        get
        {
            if (_storedAnswers is { } s) return s;
            Interlocked.CompareExchange(ref _storedAnswers, new SemaphoreSlim(1, 1), null);
            return _storedAnswers;
        }
    }
    public long StartedAt { get; } = Environment.TickCount64;
    public long LastReceivedAt { get; private set; } = Environment.TickCount64;
    public long LastPingAt { get; set; } = Environment.TickCount64;

    /// Open subscriptions by id.
    public ConnectionSubscriptions Subscriptions { get; } = new();

    /// Cancelled when the connection goes away: queries and waits of this connection stop.
    public CancellationToken Aborted => _aborted.Token;

    public ClientConnection(Socket socket, ConnectionContext ctx)
    {
        _socket = socket;
        _ctx = ctx;
        Session = new ConnectionSession((socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None);
        // Zero-byte reads: an idle connection waits for data without holding a buffer, which is
        // most of what 10,000 idle subscribers would otherwise cost.
        _input = PipeReader.Create(new NetworkStream(socket, ownsSocket: false),
            new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024, useZeroByteReads: true));
    }

    public async Task RunAsync()
    {
        try
        {
            if (await HandleHttpAsync()) await RunWebSocketAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Peer reset, timeout or our own abort: expected, not a bug.
        }
        catch (Exception e)
        {
            _ctx.Log.ConnectionFailed(e, Id);
        }
        finally
        {
            await CleanupAsync();
        }
    }

    /// Queues a complete frame. Never blocks; a reader that falls too far behind is closed.
    public bool Send(byte[] frame) => Send(new OutboundFrame(frame));

    /// The OK answer to an EVENT this connection sent.
    public void Answer(string eventId, bool accepted, string message) => Send(Replies.Ok(eventId, accepted, message));

    /// Queues a frame made of parts (e.g. a per-subscription head and a shared event body).
    public bool Send(OutboundFrame frame)
    {
        if (State is ConnectionState.Closing or ConnectionState.Closed) { frame.Release(); return false; }
        var queued = Interlocked.Add(ref _queuedBytes, frame.Length);
        if (queued + Volatile.Read(ref _kernelQueued) > _ctx.Options.MaxSendQueueBytes
            && queued + KernelBytes(queued - frame.Length) > _ctx.Options.MaxSendQueueBytes)   // not on a stale figure
        {
            Interlocked.Add(ref _queuedBytes, -frame.Length);
            frame.Release();
            CloseSlowReader("slow reader: too much unsent data");
            return false;
        }
        if (_outbox.TryWrite(frame)) return true;
        Interlocked.Add(ref _queuedBytes, -frame.Length);
        frame.Release();
        return false;
    }

    /// Closes a client that is not reading what it asked for (1008, the queue dropped).
    public void CloseSlowReader(string reason)
    {
        _ctx.Metrics.SlowReadersClosed.Increment();
        Close(CloseCodes.PolicyViolation, reason, dropQueued: true);
    }

    /// Takes every queued frame out as the send loop would, without sending. For benchmarks and
    /// tests that build a connection whose loops never run.
    internal int DiscardQueued()
    {
        var n = 0;
        while (_outbox.TryRead(out var frame)) { Interlocked.Add(ref _queuedBytes, -frame.Length); frame.Release(); n++; }
        return n;
    }

    /// Bytes queued but not yet handed to the socket.
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// What this client has yet to take: the queue, plus, with kernel-sized send buffers
    /// (SEND_BUFFER_KB=0), what the kernel still holds. Stored answers are paced by it.
    public long PendingBytes
    {
        get
        {
            var queued = Interlocked.Read(ref _queuedBytes);
            return queued + KernelBytes(queued);
        }
    }

    /// The kernel's unsent bytes as the send loop last saw them; asked again when the queue was
    /// empty (<paramref name="queued"/> 0), as the idle send loop no longer refreshes the figure.
    private long KernelBytes(long queued)
    {
        var kernel = Volatile.Read(ref _kernelQueued);
        if (kernel > 0 && queued == 0) Volatile.Write(ref _kernelQueued, kernel = UnsentInKernel(_socket));
        return kernel;
    }

    /// Waits until the outbound queue is below half its cap. Stored query results use this, so a
    /// large REQ answer is paced by the reader instead of tripping the slow-reader limit. The
    /// waiting query holds one of the few query slots, so a reader that takes nothing for
    /// StalledReaderTimeout is closed as a slow reader rather than waited for.
    public async ValueTask WaitForSendSpaceAsync(CancellationToken ct)
    {
        var limit = _ctx.Options.MaxSendQueueBytes / 2;
        var lowest = PendingBytes;
        var progressAt = Environment.TickCount64;
        while (PendingBytes > limit && State == ConnectionState.WebSocket)
        {
            await Task.Delay(5, ct);
            var now = Environment.TickCount64;
            if (PendingBytes < lowest) (lowest, progressAt) = (PendingBytes, now);
            else if (now - progressAt > _ctx.Options.StalledReaderTimeout.TotalMilliseconds)
            {
                CloseSlowReader("slow reader: stopped reading a stored result");
                throw new OperationCanceledException("slow reader closed", ct);
            }
        }
    }

    /// Starts the close handshake (RFC 6455 §7.1.2): our close frame goes last, then the socket's
    /// send side is shut; the receive loop ends when the peer answers or the watchdog fires.
    public void Close(ushort code, string reason, bool dropQueued = false)
    {
        if (Interlocked.Exchange(ref _closeStarted, 1) != 0) return;
        if (TryMove(ConnectionState.WebSocket, ConnectionState.Closing))
        {
            // Closing already refuses other frames: ours is the last one queued.
            _dropQueued = dropQueued;
            _outbox.TryWrite(new OutboundFrame(FrameWriter.Close(code, reason)));
        }
        else MoveToClosing();
        _outbox.Complete();
        _ = AbortAfterAsync(dropQueued ? SlowReaderCloseGrace : CloseHandshakeTimeout);
    }

    /// How long a peer has to answer our close frame before the socket is dropped.
    private static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(2);

    /// A slow reader's close frame sits behind what the kernel already holds for it (megabytes on
    /// a fast link); dropping the socket after 2 s would reset it, and a client that reads again
    /// would never see why. Our queue is already dropped, so waiting costs only a connection slot.
    private static readonly TimeSpan SlowReaderCloseGrace = TimeSpan.FromSeconds(30);

    /// Drops the connection at once (no close handshake).
    public void Abort()
    {
        MoveToClosing();
        _outbox.Complete();
        try { _aborted.Cancel(); } catch (ObjectDisposedException) { }
        _socket.Dispose();
    }

    private async Task AbortAfterAsync(TimeSpan delay)
    {
        await Task.Delay(delay);
        if (State != ConnectionState.Closed) Abort();
    }

    private async Task SendLoopAsync()
    {
        // Small to start: most connections are idle subscribers, and this grows only when busy.
        var sending = new List<OutboundFrame>(4);
        var reader = _outbox;
        try
        {
            while (await reader.WaitToReadAsync())
            {
                // Gather what is queued into one send.
                var bytes = 0;
                var heads = 0;
                while (sending.Count < 64 && bytes < 256 * 1024 && reader.TryRead(out var frame))
                {
                    if (_dropQueued && !frame.IsClose) { Interlocked.Add(ref _queuedBytes, -frame.Length); frame.Release(); continue; }
                    sending.Add(frame);
                    bytes += frame.Length;
                    heads += frame.HeadLength;
                }
                if (sending.Count == 0) continue;
                if (sending.Count == 1 && sending[0].TryGetBytes(out var whole)) await _socket.SendAsync(whole, SocketFlags.None);
                else if (bytes <= CopyToSendBytes) await SendCopiedAsync(sending, bytes);
                else await SendGatheredAsync(sending, heads);
                // Kernel-sized buffers grow to megabytes for a reader that stopped: after a backlog
                // (or a big write), ask the kernel what it still holds, so the slow-reader limit
                // counts all the memory this client costs. A reader that keeps up never pays for it.
                var backlog = Interlocked.Add(ref _queuedBytes, -bytes);
                if (_ctx.Options.SendBufferBytes == 0)
                    Volatile.Write(ref _kernelQueued, backlog > 0 || bytes >= 16 * 1024 ? UnsentInKernel(_socket) : 0);
                foreach (var f in sending) f.Release();
                sending.Clear();
            }
            if (State == ConnectionState.Closing) _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Abort();
        }
    }

    /// Up to this size the frames of a send are written into one pooled buffer: a memcpy of a few
    /// KiB costs less than pinning every part for a scatter-gather send (a GC handle per buffer),
    /// and live events' heads are written there directly instead of being allocated.
    private const int CopyToSendBytes = 64 * 1024;

    private async ValueTask SendCopiedAsync(List<OutboundFrame> frames, int bytes)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(bytes);
        try
        {
            var n = 0;
            foreach (var f in frames) n += f.CopyTo(buffer.AsSpan(n));
            await _socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// Large sends (stored answers, big events) go out as segments without copying the bodies;
    /// live events' heads are written into one rented scratch buffer.
    private async ValueTask SendGatheredAsync(List<OutboundFrame> frames, int headBytes)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(Math.Max(headBytes, 1));
        var segments = _segments ??= new List<ArraySegment<byte>>(frames.Count * 3);
        try
        {
            var used = 0;
            foreach (var f in frames) f.AddTo(segments, scratch, ref used);
            await _socket.SendAsync(segments, SocketFlags.None);
        }
        finally
        {
            segments.Clear();
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// Bytes written to the socket that the peer has not acknowledged yet (Linux SIOCOUTQ); 0 if unknown.
    private static long UnsentInKernel(Socket socket)
    {
        if (!OperatingSystem.IsLinux()) return 0;
        // The marshaller holds a reference on the handle for the call (and throws once it is
        // closed), so a concurrent Abort can't make us read a reused descriptor.
        try { return ioctl(socket.SafeHandle, SIOCOUTQ, out var n) == 0 ? n : 0; }
        catch (ObjectDisposedException) { return 0; }
    }

    private const nuint SIOCOUTQ = 0x5411;

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = false)]
    private static partial int ioctl(SafeSocketHandle fd, nuint request, out int value);

    private async Task SendRawAsync(byte[] bytes)
    {
        await _socket.SendAsync(bytes, SocketFlags.None);
    }

    private async Task CleanupAsync()
    {
        Volatile.Write(ref _state, (int)ConnectionState.Closed);
        _outbox.Complete();
        try { _aborted.Cancel(); } catch (ObjectDisposedException) { }
        foreach (var sub in Subscriptions.TakeAll()) _ctx.Subscriptions.Remove(sub);
        _ctx.Policies.PerAddress.Release(Session);
        await _input.CompleteAsync();
        _socket.Dispose();
        _ctx.Connections.Remove(this);
    }
}

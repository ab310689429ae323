using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Relay.Tests.Support;

/// One frame as the relay sent it (RFC 6455 §5.2).
internal sealed record RawFrame(bool Fin, int Opcode, bool Masked, byte[] Payload)
{
    public const int Continuation = 0x0, Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA;

    /// The status code of a close frame (§5.5.1), or null when it carries none.
    public int? CloseCode => Opcode == Close && Payload.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(Payload) : null;

    public string PayloadText => Encoding.UTF8.GetString(Payload);
}

/// An HTTP/1.1 response head (status line and headers) read off a raw socket.
internal sealed record RawHttpHead(int Status, string StatusLine, Dictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.GetValueOrDefault(name);
}

/// A WebSocket client written by hand over a TCP socket, so tests can send what a well-behaved
/// client library never would: unmasked frames, reserved bits, bad close codes, split request
/// heads, frame headers without their bodies. Every read times out (10 s) instead of hanging.
internal sealed class RawWebSocket : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// RFC 6455 §1.3's example key and the accept value it must produce.
    public const string SampleKey = "dGhlIHNhbXBsZSBub25jZQ==";
    public const string SampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start, _end;   // unread bytes are _buffer[_start.._end]

    private RawWebSocket(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    /// A plain TCP connection to the relay; nothing sent yet.
    public static async Task<RawWebSocket> ConnectTcpAsync(int port, int receiveBuffer = 0)
    {
        var tcp = new TcpClient { NoDelay = true };
        if (receiveBuffer > 0) tcp.ReceiveBufferSize = receiveBuffer;   // before connecting: it sets the window
        using var cts = new CancellationTokenSource(Timeout);
        await tcp.ConnectAsync("127.0.0.1", port, cts.Token);
        return new RawWebSocket(tcp);
    }

    /// This end's TCP port (to find the connection in /proc/net/tcp).
    public int LocalPort => ((System.Net.IPEndPoint)_tcp.Client.LocalEndPoint!).Port;

    /// Connects and completes the opening handshake; fails the test unless the relay answers 101.
    public static async Task<RawWebSocket> OpenAsync(int port, int receiveBuffer = 0)
    {
        var ws = await ConnectTcpAsync(port, receiveBuffer);
        await ws.SendAsync(UpgradeRequest(port));
        var head = await ws.ReadHttpHeadAsync();
        if (head.Status != 101) throw new InvalidOperationException("handshake refused: " + head.StatusLine);
        return ws;
    }

    public static string UpgradeRequest(int port, string key = SampleKey, string version = "13") =>
        $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        $"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n";

    /// base64(SHA-1(key + GUID)), computed here independently of the relay's code.
    public static string AcceptFor(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));

    public Task SendAsync(string ascii) => SendAsync(Encoding.UTF8.GetBytes(ascii));

    public async Task SendAsync(byte[] bytes)
    {
        using var cts = new CancellationTokenSource(Timeout);
        await _stream.WriteAsync(bytes, cts.Token);
        await _stream.FlushAsync(cts.Token);
    }

    /// Builds one client frame. Masked with a random key unless <paramref name="masked"/> is false;
    /// <paramref name="rsv"/> sets the reserved bits (0–7).
    public static byte[] Frame(int opcode, ReadOnlySpan<byte> payload, bool fin = true, bool masked = true, int rsv = 0)
    {
        var lengthBytes = payload.Length < 126 ? 0 : payload.Length <= ushort.MaxValue ? 2 : 8;
        var header = 2 + lengthBytes + (masked ? 4 : 0);
        var frame = new byte[header + payload.Length];
        frame[0] = (byte)((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0F));
        WriteLength(frame, payload.Length, masked);
        var p = 2 + lengthBytes;
        if (masked)
        {
            var key = frame.AsSpan(p, 4);
            RandomNumberGenerator.Fill(key);
            p += 4;
            for (var i = 0; i < payload.Length; i++) frame[p + i] = (byte)(payload[i] ^ key[i & 3]);
        }
        else
        {
            payload.CopyTo(frame.AsSpan(p));
        }
        return frame;
    }

    /// Only the header of a masked frame that announces <paramref name="payloadLength"/> bytes.
    public static byte[] HeaderOnly(int opcode, long payloadLength, bool fin = true)
    {
        var frame = new byte[2 + 8 + 4];
        frame[0] = (byte)((fin ? 0x80 : 0) | (opcode & 0x0F));
        frame[1] = 0x80 | 127;
        BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payloadLength);
        RandomNumberGenerator.Fill(frame.AsSpan(10, 4));
        return frame;
    }

    private static void WriteLength(byte[] frame, int length, bool masked)
    {
        var m = masked ? 0x80 : 0;
        if (length < 126) { frame[1] = (byte)(m | length); return; }
        if (length <= ushort.MaxValue)
        {
            frame[1] = (byte)(m | 126);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)length);
            return;
        }
        frame[1] = (byte)(m | 127);
        BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)length);
    }

    public Task SendFrameAsync(int opcode, ReadOnlySpan<byte> payload, bool fin = true, bool masked = true, int rsv = 0) =>
        SendAsync(Frame(opcode, payload, fin, masked, rsv));

    public Task SendTextAsync(string text) => SendFrameAsync(RawFrame.Text, Encoding.UTF8.GetBytes(text));

    /// A close frame with a status code and an optional reason.
    public Task SendCloseAsync(int code, string reason = "")
    {
        var payload = new byte[2 + Encoding.UTF8.GetByteCount(reason)];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)code);
        Encoding.UTF8.GetBytes(reason, payload.AsSpan(2));
        return SendFrameAsync(RawFrame.Close, payload);
    }

    /// Reads an HTTP response head (up to the blank line); bytes after it stay buffered for frames.
    public async Task<RawHttpHead> ReadHttpHeadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        while (true)
        {
            var end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                var text = Encoding.Latin1.GetString(_buffer, _start, end);
                _start += end + 4;
                var head = ParseHead(text);
                if (head.Status == 101) await ReadChallengeAsync(cts.Token);
                return head;
            }
            if (!await FillAsync(cts.Token)) throw new InvalidOperationException("connection closed before the response head ended");
        }
    }

    /// The NIP-42 challenge the relay sent right after the 101.
    public string? Challenge { get; private set; }

    /// Every WebSocket the relay opens starts with `["AUTH", challenge]` (NIP-42); it is read
    /// here so tests see the relay's answers to what they send.
    private async Task ReadChallengeAsync(CancellationToken ct)
    {
        while (true)
        {
            if (TryTakeFrame(out var frame))
            {
                var m = JsonDocument.Parse(frame!.Payload).RootElement;
                if (m[0].GetString() != "AUTH") throw new InvalidOperationException("expected [\"AUTH\", challenge] first, got " + m.GetRawText());
                Challenge = m[1].GetString();
                return;
            }
            if (!await FillAsync(ct)) return;
        }
    }

    private static RawHttpHead ParseHead(string text)
    {
        var lines = text.Split("\r\n");
        var parts = lines[0].Split(' ', 3);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        return new RawHttpHead(int.Parse(parts[1]), lines[0], headers);
    }

    /// Reads everything until the relay closes the connection (for HTTP bodies).
    public async Task<byte[]> ReadToEndAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        while (await FillAsync(cts.Token)) { }
        var rest = _buffer.AsSpan(_start, _end - _start).ToArray();
        _start = _end;
        return rest;
    }

    /// The next frame, or null when the relay closed the TCP connection first.
    public async Task<RawFrame?> ReadFrameAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        while (true)
        {
            if (TryTakeFrame(out var frame)) return frame;
            if (!await FillAsync(cts.Token)) return null;
        }
    }

    /// Reads frames until a close frame (returned) or the end of the connection (null); other
    /// frames are collected in <paramref name="skipped"/>.
    public async Task<RawFrame?> ReadCloseAsync(List<RawFrame>? skipped = null, TimeSpan? timeout = null)
    {
        while (true)
        {
            var f = await ReadFrameAsync(timeout);
            if (f is null || f.Opcode == RawFrame.Close) return f;
            skipped?.Add(f);
        }
    }

    /// The next text message (unfragmented, as the relay sends them) parsed as JSON; pings are skipped.
    public async Task<JsonElement> ReadMessageAsync(TimeSpan? timeout = null)
    {
        while (true)
        {
            var f = await ReadFrameAsync(timeout) ?? throw new InvalidOperationException("connection closed while waiting for a message");
            if (f.Opcode is RawFrame.Ping or RawFrame.Pong) continue;
            if (f.Opcode != RawFrame.Text || !f.Fin) throw new InvalidOperationException($"expected a text message, got opcode {f.Opcode} (fin {f.Fin}, close code {f.CloseCode})");
            return JsonDocument.Parse(f.Payload).RootElement.Clone();
        }
    }

    /// True once the relay has closed the connection (a read returns 0 bytes, or a reset);
    /// false if the connection is still open when the timeout expires. Discards data read meanwhile.
    public async Task<bool> WaitForEndAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                _start = _end = 0;
                if (!await FillAsync(cts.Token)) return true;
            }
        }
        catch (OperationCanceledException) { return false; }
        catch (IOException) { return true; }   // reset by the relay: closed too
    }

    private bool TryTakeFrame(out RawFrame? frame)
    {
        frame = null;
        var span = _buffer.AsSpan(_start, _end - _start);
        if (span.Length < 2) return false;
        var masked = (span[1] & 0x80) != 0;
        long length = span[1] & 0x7F;
        var pos = 2;
        if (length == 126)
        {
            if (span.Length < 4) return false;
            length = BinaryPrimitives.ReadUInt16BigEndian(span[2..]);
            pos = 4;
        }
        else if (length == 127)
        {
            if (span.Length < 10) return false;
            length = (long)BinaryPrimitives.ReadUInt64BigEndian(span[2..]);
            pos = 10;
        }
        var maskPos = pos;
        if (masked) pos += 4;
        if (length > _buffer.Length - pos) throw new InvalidOperationException($"frame of {length} bytes is larger than the test buffer");
        if (span.Length < pos + length) return false;
        var payload = span.Slice(pos, (int)length).ToArray();
        if (masked) for (var i = 0; i < payload.Length; i++) payload[i] ^= span[maskPos + (i & 3)];
        frame = new RawFrame((span[0] & 0x80) != 0, span[0] & 0x0F, masked, payload);
        _start += pos + (int)length;
        return true;
    }

    /// Reads more bytes into the buffer; false at the end of the stream.
    private async Task<bool> FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length) throw new InvalidOperationException("test buffer full");
        var n = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
        if (n == 0) return false;
        _end += n;
        return true;
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}

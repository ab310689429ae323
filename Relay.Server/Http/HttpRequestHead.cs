using System.Buffers;
using System.Text;

namespace Relay.Server.Http;

/// Why a request head was refused before any routing.
internal enum HeadError : byte { None, Malformed, TooLarge }

/// The parts of an HTTP/1.1 request head the relay routes on. Header values we don't use are skipped.
internal sealed class HttpRequestHead
{
    /// Larger heads get 431; no client needs more to open a WebSocket.
    public const int MaxHeadBytes = 8192;

    public string Method { get; private set; } = "";
    public string Path { get; private set; } = "";
    public string? Upgrade { get; private set; }
    public string? Connection { get; private set; }
    public string? WebSocketKey { get; private set; }
    public string? WebSocketVersion { get; private set; }
    public string? Accept { get; private set; }
    /// X-Forwarded-For as sent (every hop); believed only from a trusted proxy.
    public string? ForwardedFor { get; private set; }
    public string? RealIp { get; private set; }
    /// "HTTP/1.1" or "HTTP/1.0" (a WebSocket upgrade needs 1.1).
    public string Version { get; private set; } = "";
    public bool HasHost { get; private set; }
    /// Sec-WebSocket-Key headers seen: two are a bad handshake, not a choice.
    public int WebSocketKeyCount { get; private set; }

    public bool WantsWebSocket =>
        Upgrade is not null && Upgrade.Contains("websocket", StringComparison.OrdinalIgnoreCase);

    public bool WantsRelayInfo =>
        Accept is not null && Accept.Contains("application/nostr+json", StringComparison.OrdinalIgnoreCase);

    /// Returns false while the head is incomplete. On true, <paramref name="consumed"/> is the head's
    /// length and either <paramref name="head"/> is set or <paramref name="error"/> says why not.
    public static bool TryParse(in ReadOnlySequence<byte> input, out HttpRequestHead? head, out long consumed, out HeadError error)
    {
        head = null;
        consumed = 0;
        error = HeadError.None;
        var reader = new SequenceReader<byte>(input);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> headBytes, "\r\n\r\n"u8, advancePastDelimiter: true))
        {
            // + 3: a head of exactly the limit may still be waiting for the last bytes of its "\r\n\r\n".
            if (input.Length > MaxHeadBytes + 3) { error = HeadError.TooLarge; return true; }
            return false;
        }
        consumed = reader.Consumed;
        if (headBytes.Length > MaxHeadBytes) { error = HeadError.TooLarge; return true; }
        // Latin-1 keeps every byte as one char, so no input makes decoding fail.
        var text = Encoding.Latin1.GetString(headBytes);
        head = Parse(text);
        if (head is null) error = HeadError.Malformed;
        return true;
    }

    private static HttpRequestHead? Parse(string text)
    {
        var lines = text.Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || !requestLine[2].StartsWith("HTTP/1.", StringComparison.Ordinal) || requestLine[0].Length == 0)
            return null;
        var head = new HttpRequestHead { Method = requestLine[0], Path = requestLine[1], Version = requestLine[2] };
        for (var i = 1; i < lines.Length; i++)
        {
            var colon = lines[i].IndexOf(':');
            if (colon <= 0) return null;
            var name = lines[i].AsSpan(0, colon).Trim();
            var value = lines[i][(colon + 1)..].Trim();
            if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase)) head.Upgrade = value;
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase)) head.Connection = value;
            else if (name.Equals("Sec-WebSocket-Key", StringComparison.OrdinalIgnoreCase)) { head.WebSocketKey = value; head.WebSocketKeyCount++; }
            else if (name.Equals("Host", StringComparison.OrdinalIgnoreCase)) head.HasHost = value.Length > 0;
            else if (name.Equals("X-Real-IP", StringComparison.OrdinalIgnoreCase)) head.RealIp = value;
            else if (name.Equals("Sec-WebSocket-Version", StringComparison.OrdinalIgnoreCase)) head.WebSocketVersion = value;
            else if (name.Equals("Accept", StringComparison.OrdinalIgnoreCase)) head.Accept = value;
            else if (name.Equals("X-Forwarded-For", StringComparison.OrdinalIgnoreCase)) head.ForwardedFor = head.ForwardedFor is null ? value : head.ForwardedFor + "," + value;
        }
        return head;
    }
}

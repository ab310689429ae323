using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;

namespace Relay.LoadTests.Net;

/// The client half of the HTTP/1.1 upgrade (RFC 6455 §4.1). Runs once per connection, so it
/// favours plain code over allocation-free code.
internal static class WebSocketHandshake
{
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// The GET upgrade request, and the Sec-WebSocket-Accept the server must answer it with.
    public static (byte[] Request, string ExpectedAccept) BuildRequest(Uri url)
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        var request =
            $"GET {url.PathAndQuery} HTTP/1.1\r\n" +
            $"Host: {url.Authority}\r\n" +
            "Upgrade: websocket\r\n" +
            "Connection: Upgrade\r\n" +
            $"Sec-WebSocket-Key: {key}\r\n" +
            "Sec-WebSocket-Version: 13\r\n" +
            "\r\n";
        return (Encoding.ASCII.GetBytes(request), AcceptFor(key));
    }

    public static string AcceptFor(string key) =>
        Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + AcceptGuid)));

    /// Length of the response head up to and including its blank line; -1 while it is incomplete.
    public static int HeadLength(ReadOnlySpan<byte> received)
    {
        var end = received.IndexOf("\r\n\r\n"u8);
        return end < 0 ? -1 : end + 4;
    }

    /// Throws WebSocketException (carrying the status line) unless the head is a 101 with the
    /// expected Sec-WebSocket-Accept.
    public static void Validate(ReadOnlySpan<byte> head, string expectedAccept)
    {
        // Latin-1 maps every byte to a char, so a malformed head still shows up readably.
        var lines = Encoding.Latin1.GetString(head).Split("\r\n");
        var statusLine = lines[0];
        var parts = statusLine.Split(' ', 3);
        if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || parts[1] != "101")
            throw new WebSocketException(WebSocketError.NotAWebSocket, $"The server answered '{statusLine}' instead of 101 Switching Protocols");
        string? accept = null;
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals("Sec-WebSocket-Accept", StringComparison.OrdinalIgnoreCase))
                accept = line[(colon + 1)..].Trim();
        }
        if (accept != expectedAccept)
            throw new WebSocketException(WebSocketError.HeaderError, $"The server answered '{statusLine}' with Sec-WebSocket-Accept '{accept}', expected '{expectedAccept}'");
    }
}

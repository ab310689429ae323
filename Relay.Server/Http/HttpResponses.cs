using System.Text;

namespace Relay.Server.Http;

/// Complete HTTP/1.1 responses for the non-WebSocket side of the port. Every one closes the connection.
internal static class HttpResponses
{
    private const string Cors = "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Headers: *\r\nAccess-Control-Allow-Methods: GET, OPTIONS\r\n";

    /// With <paramref name="headOnly"/> (a HEAD request) the headers announce the body's length but it is not sent.
    public static byte[] Text(int status, string reason, string body, string extraHeaders = "", bool headOnly = false)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        return Build(status, reason, "text/plain; charset=utf-8", headOnly ? [] : bytes, extraHeaders, bytes.Length);
    }

    public static byte[] Json(int status, string reason, string contentType, byte[] body, bool headOnly = false) =>
        Build(status, reason, contentType, headOnly ? [] : body, Cors, body.Length);

    public static byte[] Preflight() =>
        Encoding.ASCII.GetBytes($"HTTP/1.1 204 No Content\r\n{Cors}Access-Control-Max-Age: 86400\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

    public static byte[] SwitchingProtocols(string accept) =>
        Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");

    private static byte[] Build(int status, string reason, string contentType, byte[] body, string extraHeaders, int? contentLength = null)
    {
        var head = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 {status} {reason}\r\nContent-Type: {contentType}\r\nContent-Length: {contentLength ?? body.Length}\r\n{extraHeaders}Connection: close\r\n\r\n");
        var all = new byte[head.Length + body.Length];
        head.CopyTo(all, 0);
        body.CopyTo(all, head.Length);
        return all;
    }
}

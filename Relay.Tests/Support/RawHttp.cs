using System.Text;

namespace Relay.Tests.Support;

/// A complete HTTP response: head and body as the relay sent them.
internal sealed record RawHttpResponse(RawHttpHead Head, byte[] Body)
{
    public int Status => Head.Status;
    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// Plain HTTP/1.1 over a raw socket: the relay answers every non-WebSocket request and closes,
/// so the body is whatever arrives before the end of the connection.
internal static class RawHttp
{
    public static async Task<RawHttpResponse> SendAsync(int port, string request)
    {
        await using var socket = await RawWebSocket.ConnectTcpAsync(port);
        await socket.SendAsync(request);
        var head = await socket.ReadHttpHeadAsync();
        var body = await socket.ReadToEndAsync();
        return new RawHttpResponse(head, body);
    }

    public static Task<RawHttpResponse> RequestAsync(int port, string method, string path, string extraHeaders = "") =>
        SendAsync(port, $"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extraHeaders}Connection: close\r\n\r\n");
}

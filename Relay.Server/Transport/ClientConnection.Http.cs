using System.Text;
using Relay.Server.Http;
using Relay.Server.WebSockets;

namespace Relay.Server.Transport;

/// The HTTP/1.1 side: read one request head, then upgrade or answer and close.
internal sealed partial class ClientConnection
{
    /// Returns true when the connection was upgraded to a WebSocket.
    private async Task<bool> HandleHttpAsync()
    {
        HttpRequestHead? head;
        while (true)
        {
            var result = await _input.ReadAsync(Aborted);
            var buffer = result.Buffer;
            if (HttpRequestHead.TryParse(buffer, out head, out var consumed, out var error))
            {
                _input.AdvanceTo(buffer.GetPosition(consumed));
                if (error == HeadError.TooLarge) { await SendRawAsync(HttpResponses.Text(431, "Request Header Fields Too Large", "request head too large\n")); return false; }
                if (error == HeadError.Malformed) { await SendRawAsync(HttpResponses.Text(400, "Bad Request", "malformed request\n")); return false; }
                break;
            }
            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) return false;
        }

        Session.Address = Policies.ClientAddress.Resolve(Session.Address, head!.ForwardedFor, head.RealIp, _ctx.Options.TrustedProxies);
        var path = head.Path.Split('?')[0];

        if (head.Method == "OPTIONS") { await SendRawAsync(HttpResponses.Preflight()); return false; }
        if (head.Method is not ("GET" or "HEAD"))
        {
            await SendRawAsync(HttpResponses.Text(405, "Method Not Allowed", "method not allowed\n", "Allow: GET, HEAD, OPTIONS\r\n"));
            return false;
        }

        if (head.WantsWebSocket)
        {
            if (head.WebSocketVersion != "13")
            {
                await SendRawAsync(HttpResponses.Text(426, "Upgrade Required", "only WebSocket version 13 is supported\n", "Sec-WebSocket-Version: 13\r\n"));
                return false;
            }
            // RFC 6455 §4.1/§4.2.1: an HTTP/1.1 GET with a Host and exactly one valid key.
            if (head.WebSocketKey is not { } key || head.WebSocketKeyCount != 1 || !HandshakeKey.IsValid(Encoding.ASCII.GetBytes(key))
                || head.Method != "GET" || head.Version != "HTTP/1.1" || !head.HasHost
                || head.Connection is null || !head.Connection.Contains("upgrade", StringComparison.OrdinalIgnoreCase))
            {
                await SendRawAsync(HttpResponses.Text(400, "Bad Request", "invalid WebSocket handshake\n"));
                return false;
            }
            foreach (var policy in _ctx.Policies.Connection)
            {
                if (policy(Session) is not { } refused) continue;
                await SendRawAsync(HttpResponses.Text(refused.Status, refused.Status == 429 ? "Too Many Requests" : "Forbidden", refused.Reason + "\n"));
                return false;
            }
            await SendRawAsync(HttpResponses.SwitchingProtocols(HandshakeKey.Accept(Encoding.ASCII.GetBytes(key))));
            if (!TryMove(ConnectionState.Handshake, ConnectionState.WebSocket)) return false;   // timed out meanwhile
            Send(Protocol.Replies.Auth(Session.Challenge));   // NIP-42: every connection may authenticate
            return true;
        }

        var headOnly = head.Method == "HEAD";
        byte[] response = path switch
        {
            "/" when head.WantsRelayInfo => HttpResponses.Json(200, "OK", "application/nostr+json", _ctx.RelayInfo, headOnly),
            "/health" => HttpResponses.Text(200, "OK", "ok\n", headOnly: headOnly),
            "/metrics" => HttpResponses.Text(200, "OK", _ctx.Metrics.Render(), headOnly: headOnly),
            "/" => HttpResponses.Text(200, "OK", "This is a Nostr relay. Connect with a Nostr client over WebSocket.\n", headOnly: headOnly),
            _ => HttpResponses.Text(404, "Not Found", "not found\n", headOnly: headOnly),
        };
        await SendRawAsync(response);
        return false;
    }
}

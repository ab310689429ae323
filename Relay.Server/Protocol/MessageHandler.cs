using Relay.Server.Ingest;
using Relay.Server.Policies;
using Relay.Server.Req;
using Relay.Server.Transport;
using Relay.Storage.Model;

namespace Relay.Server.Protocol;

/// Routes a parsed client message to its stage; bad messages become the reply NIP-01 asks for.
internal sealed class MessageHandler(EventIngester ingester, ReqHandler reqs, Authentication auth, RateLimits rates, Observability.RelayMetrics metrics)
{
    public async ValueTask HandleAsync(ClientConnection conn, ClientMessage msg)
    {
        metrics.MessageReceived(msg.Type);
        if (!msg.IsValid)
        {
            if (msg.Type == ClientMessageType.Event) metrics.Rejected(msg.Error!);
            conn.Send(msg switch
            {
                { Type: ClientMessageType.Event or ClientMessageType.Auth, EventId: { } id } => Replies.Ok(id, false, msg.Error!),
                { Type: ClientMessageType.Req or ClientMessageType.Count, SubId: { } sub } => Replies.Closed(Replies.SubIdJson(sub), msg.Error!),
                _ => Replies.Notice(msg.Error!),
            });
            return;
        }
        switch (msg.Type)
        {
            case ClientMessageType.Event:
                await ingester.SubmitAsync(conn, msg.Event!);
                break;
            case ClientMessageType.Req:
                reqs.Open(conn, msg.SubId!, msg.Filters!);
                break;
            case ClientMessageType.Close:
                reqs.Close(conn, msg.SubId!);
                break;
            case ClientMessageType.Count:
                _ = reqs.CountAsync(conn, msg.SubId!, msg.Filters!);
                break;
            case ClientMessageType.Auth:
                Authenticate(conn, msg.Event!);
                break;
        }
        // A policy asked for this client to go (over its rate limit for too long).
        if (conn.Session.CloseReason is { } reason) conn.Close(WebSockets.CloseCodes.PolicyViolation, reason);
    }

    private void Authenticate(ClientConnection conn, NostrEvent e)
    {
        // Each AUTH costs a signature check: it draws on the address's REQ budget.
        var error = rates.AllowAuth(conn.Session) ? auth.Check(e, conn.Session, DateTimeOffset.UtcNow.ToUnixTimeSeconds())
            : "rate-limited: too many messages from your address, slow down";
        if (error is null) conn.Session.Authenticate(e.PubkeyKey);
        conn.Answer(e.Id, error is null, error ?? "");
    }
}

using Relay.Server.Ingest;
using Relay.Server.Req;
using Relay.Server.Transport;

namespace Relay.Server.Protocol;

/// Routes a parsed client message to its stage; bad messages become the reply NIP-01 asks for.
internal sealed class MessageHandler(EventIngester ingester, ReqHandler reqs)
{
    public async ValueTask HandleAsync(ClientConnection conn, ClientMessage msg)
    {
        if (!msg.IsValid)
        {
            conn.Send(msg switch
            {
                { Type: ClientMessageType.Event, EventId: { } id } => Replies.Ok(id, false, msg.Error!),
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
        }
    }
}

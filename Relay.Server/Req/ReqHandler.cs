using Npgsql;
using Relay.Server.Configuration;
using Relay.Server.Observability;
using Relay.Server.Protocol;
using Relay.Server.Subscriptions;
using Relay.Server.Transport;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server.Req;

/// REQ, CLOSE and COUNT: registers the live subscription first, then streams stored events,
/// EOSE, and the live events that arrived meanwhile, so nothing falls between the two.
internal sealed class ReqHandler(NpgsqlDataSource db, SubscriptionIndex index, RelayOptions options, RelayMetrics metrics, RelayLog log)
{
    private readonly SemaphoreSlim _queries = new(options.MaxConcurrentQueries);

    public void Open(ClientConnection conn, string subId, NostrFilter[] filters)
    {
        if (conn.Subscriptions.Remove(subId, out var old)) index.Remove(old);    // same id replaces (NIP-01)
        else if (conn.Subscriptions.Count >= options.MaxSubscriptions)
        {
            conn.Send(Replies.Closed(Replies.SubIdJson(subId), $"rate-limited: too many open subscriptions (max {options.MaxSubscriptions})"));
            return;
        }
        metrics.Reqs.Increment();
        var sub = new Subscription(conn, subId, filters);
        conn.Subscriptions[subId] = sub;
        index.Add(sub);
        _ = QueryAsync(sub);
    }

    public void Close(ClientConnection conn, string subId)
    {
        if (conn.Subscriptions.Remove(subId, out var sub)) index.Remove(sub);
    }

    private async Task QueryAsync(Subscription sub)
    {
        var conn = sub.Connection;
        var ct = sub.Cancelled;
        var sent = new HashSet<EventIdKey>();
        using var batch = new StoredResultBatch(conn, sub.SubIdJson);
        try
        {
            await _queries.WaitAsync(ct);
            try
            {
                var n = await EventQuery.RunAsync(db, sub.Filters, options.MaxLimit, Now(), async raw =>
                {
                    sent.Add(IdOf(raw.Span));
                    if (!batch.HasRoomFor(raw.Length))
                    {
                        if (conn.QueuedBytes > options.MaxSendQueueBytes / 2) await conn.WaitForSendSpaceAsync(ct);
                        batch.Flush();
                    }
                    batch.AddEvent(raw.Span);
                }, ct);
                metrics.StoredEventsSent.Add(n);
            }
            finally
            {
                _queries.Release();
            }
            batch.AddEose();
            batch.Flush();
            metrics.LiveEventsSent.Add(sub.GoLive(sent));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested || conn.State != ConnectionState.WebSocket)
        {
            // CLOSE, a replacing REQ, the connection went away or was closed as a slow reader.
        }
        catch (Exception e)
        {
            // The top of a background task: whatever failed (database down, our bug), the client
            // gets a CLOSED instead of a subscription that never reaches EOSE.
            log.QueryFailed(e);
            if (!ct.IsCancellationRequested)
            {
                conn.Send(Replies.Closed(sub.SubIdJson, "error: could not run the query, try again later"));
                index.Remove(sub);
            }
        }
    }

    public async Task CountAsync(ClientConnection conn, string subId, NostrFilter[] filters)
    {
        var subIdJson = Replies.SubIdJson(subId);
        try
        {
            await _queries.WaitAsync(conn.Aborted);
            try
            {
                conn.Send(Replies.Count(subIdJson, await EventQuery.CountAsync(db, filters, Now(), conn.Aborted)));
            }
            finally { _queries.Release(); }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            log.QueryFailed(e);
            conn.Send(Replies.Closed(subIdJson, "error: could not run the query, try again later"));
        }
    }

    /// Stored JSON always starts `{"id":"<64 hex>"` because the relay wrote it.
    private static EventIdKey IdOf(ReadOnlySpan<byte> raw) => EventIdKey.Parse(raw.Slice(7, 64));

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}

using Npgsql;
using Relay.Server.Configuration;
using Relay.Server.Observability;
using Relay.Server.Policies;
using Relay.Server.Protocol;
using Relay.Server.Subscriptions;
using Relay.Server.Transport;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server.Req;

/// REQ, CLOSE and COUNT: the filter policies first, then the live subscription is registered,
/// then stored events stream, EOSE, and the live events that arrived meanwhile, so nothing falls
/// between the two. A query holds one of the few query slots only while PostgreSQL answers it:
/// results a client is not reading yet wait in the connection's memory, not in the slot.
internal sealed class ReqHandler(NpgsqlDataSource db, SubscriptionIndex index, RelayPolicies policies,
    RelayOptions options, RelayMetrics metrics, RelayLog log)
{
    private readonly SemaphoreSlim _queries = new(options.MaxConcurrentQueries);

    public void Open(ClientConnection conn, string subId, NostrFilter[] filters)
    {
        if (policies.CheckFilters(filters, conn.Session) is { } refused)
        {
            // A refused REQ still ends the subscription it would have replaced.
            if (conn.Subscriptions.Remove(subId) is { } old) index.Remove(old);
            conn.Send(Replies.Closed(Replies.SubIdJson(subId), refused));
            return;
        }
        var sub = new Subscription(conn, subId, filters, policies.Private, index);
        if (!conn.Subscriptions.TryAdd(sub, options.MaxSubscriptions, out var replaced))
        {
            conn.Send(Replies.Closed(sub.SubIdJson, $"rate-limited: too many open subscriptions (max {options.MaxSubscriptions})"));
            return;
        }
        if (replaced is not null) index.Remove(replaced);   // same id replaces (NIP-01)
        metrics.Reqs.Increment();
        index.Add(sub);
        _ = QueryAsync(sub);
    }

    public void Close(ClientConnection conn, string subId)
    {
        if (conn.Subscriptions.Remove(subId) is { } sub) index.Remove(sub);
    }

    private async Task QueryAsync(Subscription sub)
    {
        var conn = sub.Connection;
        var ct = sub.Cancelled;
        var sent = new HashSet<Key32>();
        var roomAbove = options.MaxSendQueueBytes / 2;
        using var batch = new StoredResultBatch(conn, sub.SubIdJson);
        var gate = conn.StoredAnswers;
        try
        {
            // One stored answer per connection at a time: what a client that stops reading can
            // make the relay hold is one answer, however many REQs it sends.
            await gate.WaitAsync(ct);
            try
            {
                await _queries.WaitAsync(ct);
                try
                {
                    var n = await EventQuery.RunAsync(db, sub.Filters, options.MaxLimit, Now(), raw =>
                    {
                        if (!policies.Private.MaySee(raw.Span, conn.Session)) return ValueTask.CompletedTask;
                        sent.Add(Key32.Parse(StoredJson.Id(raw.Span)));
                        if (!batch.HasRoomFor(raw.Length))
                        {
                            batch.Seal();
                            while (batch.HasHeld && conn.QueuedBytes <= roomAbove) batch.SendOne();
                        }
                        batch.AddEvent(raw.Span);
                        return ValueTask.CompletedTask;
                    }, ct);
                    metrics.StoredEventsSent.Add(n);
                }
                finally
                {
                    _queries.Release();
                }
                batch.AddEose();
                batch.Seal();
                // The slot is free: pace the rest by the reader (one that takes nothing for a
                // while is closed as a slow reader).
                while (batch.HasHeld)
                {
                    if (conn.QueuedBytes > roomAbove) await conn.WaitForSendSpaceAsync(ct);
                    batch.SendOne();
                }
            }
            finally
            {
                gate.Release();
            }
            metrics.LiveEventsSent.Add(sub.GoLive(sent));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested || conn.State != ConnectionState.WebSocket)
        {
            // CLOSE, a replacing REQ, the connection went away or was closed as a slow reader.
        }
        catch (Exception e)
        {
            // The top of a background task: whatever failed (database down, our bug), the client
            // gets a CLOSED instead of a subscription that never reaches EOSE, and the
            // subscription no longer counts against MAX_SUBSCRIPTIONS.
            log.QueryFailed(e);
            if (!ct.IsCancellationRequested)
            {
                conn.Send(Replies.Closed(sub.SubIdJson, "error: could not run the query, try again later"));
                sub.Drop();
            }
        }
    }

    public async Task CountAsync(ClientConnection conn, string subId, NostrFilter[] filters)
    {
        var subIdJson = Replies.SubIdJson(subId);
        if (policies.CheckFilters(filters, conn.Session) is { } refused)
        {
            conn.Send(Replies.Closed(subIdJson, refused));
            return;
        }
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

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}

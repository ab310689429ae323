using Npgsql;
using Relay.Server.Configuration;
using Relay.Server.HotTier;
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
internal sealed class ReqHandler(ReadDatabases db, SubscriptionIndex index, RelayPolicies policies,
    RelayOptions options, RelayMetrics metrics, DatabaseHealth health, HotTierKeeper? tier = null)
{
    private readonly HeldAnswers _held = NewHeldAnswers(options, metrics);
    private readonly StoredEvents _stored = new(tier, db, new QuerySlots(options.MaxConcurrentQueries), options.MaxLimit);

    private static HeldAnswers NewHeldAnswers(RelayOptions options, RelayMetrics metrics)
    {
        var held = new HeldAnswers((long)options.StoredAnswerMemoryMb * 1024 * 1024);
        metrics.AddGauge("relay.stored_answers.held", "Stored answers held for clients not reading them yet", () => held.Held, "By");
        return held;
    }

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
        var gate = conn.StoredAnswers;
        // One stored answer per connection at a time: what a client that stops reading can make
        // the relay hold is one answer, however many REQs it sends. Queued here, on the receive
        // loop, so answers go out in the order the REQs came (the semaphore serves first come,
        // first served).
        var entered = gate.WaitAsync(ct);
        // Off the receive loop: an answer from memory never waits, and run inline it was sent
        // before the loop went back to its zero-byte read; ~40% of idle connections then kept a
        // 16 KiB read buffer (`conns`: 13.3 KiB per idle connection with the tier, 6.4 with this).
        await Task.Yield();
        var roomAbove = options.MaxSendQueueBytes / 2;
        using var batch = new StoredResultBatch(conn, sub.SubIdJson, _held);
        StoredFence fence = default;
        using var span = RelayMetrics.Tracing.StartActivity("REQ");
        span?.SetTag("relay.filters", sub.Filters.Length);
        span?.SetTag("relay.filter.shape", span is null ? null : Shape(sub.Filters));
        try
        {
            await entered;
            try
            {
                var (rows, seen, askedDatabase) = await _stored.AnswerAsync(sub.Filters, Now(), (raw, kind) =>
                {
                    if (!policies.Private.MaySee(raw, kind, conn.Session)) return;
                    if (!batch.HasRoomFor(raw.Length)) SealOrGiveUp(batch, conn, roomAbove, ct);
                    batch.AddEvent(raw);
                }, position => ReplicaWillDo(sub, position), ct);
                fence = seen;
                metrics.StoredEventsSent.Add(rows);
                span?.SetTag("relay.rows", rows);
                span?.SetTag("relay.hot_tier", !askedDatabase);
                if (askedDatabase) health.Succeeded();   // an answer from memory says nothing of PostgreSQL
                batch.AddEose();
                SealOrGiveUp(batch, conn, roomAbove, ct);
                // The slot is free: pace the rest by the reader (one that takes nothing for a
                // while is closed as a slow reader).
                while (batch.HasHeld)
                {
                    if (conn.PendingBytes > roomAbove) await conn.WaitForSendSpaceAsync(ct);
                    batch.SendOne();
                }
            }
            finally
            {
                gate.Release();
            }
            metrics.LiveEventsSent.Add(sub.GoLive(fence));
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
            if (!ct.IsCancellationRequested) health.Failed(e, "a REQ's query");   // not a client's CLOSE
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
            if (!ct.IsCancellationRequested)
            {
                conn.Send(Replies.Closed(sub.SubIdJson, "error: could not run the query, try again later"));
                sub.Drop();
            }
        }
    }

    /// Whether a replica whose snapshot saw commits up to <paramref name="position"/> may answer:
    /// it has the client's own writes, and the events live delivery passed by before the
    /// subscription existed that it has not replayed yet are still at hand, to send after EOSE.
    private bool ReplicaWillDo(Subscription sub, long position)
    {
        if (position < sub.Connection.Session.WrittenUpTo) return false;
        List<NostrEvent>? missed = null;
        if (!index.TryCatchUp(sub, position, ref missed)) return false;
        if (missed is not null)
        {
            sub.AddCaughtUp(missed);
            metrics.ReplicaCatchUps.Increment();
        }
        return true;
    }

    /// The fields each filter uses, for a span: "authors,kinds,limit;#e,kinds" (values left out).
    private static string Shape(NostrFilter[] filters) => string.Join(';', filters.Select(f => string.Join(',', new[]
    {
        f.Ids is null ? null : "ids", f.Authors is null ? null : "authors", f.Kinds is null ? null : "kinds",
    }.Concat(f.Tags.Select(t => "#" + t.Name)).Append(f.Since is null ? null : "since").Append(f.Until is null ? null : "until")
     .Append(f.Limit is null ? null : "limit").Where(x => x is not null))));

    /// Hands over what the connection has room for and seals the current buffer; a reader whose
    /// answer can be neither sent nor held within the budget is closed, and the query ends.
    private static void SealOrGiveUp(StoredResultBatch batch, ClientConnection conn, long roomAbove, CancellationToken ct)
    {
        while (batch.HasHeld && conn.PendingBytes <= roomAbove) batch.SendOne();
        if (batch.Seal(sendNow: conn.PendingBytes <= roomAbove)) return;
        conn.CloseSlowReader("slow reader: too much unsent data");
        throw new OperationCanceledException("slow reader closed", ct);
    }

    public async Task CountAsync(ClientConnection conn, string subId, NostrFilter[] filters)
    {
        var subIdJson = Replies.SubIdJson(subId);
        if ((policies.CheckFilters(filters, conn.Session) ?? policies.Private.CountPolicy(filters, conn.Session)) is { } refused)
        {
            conn.Send(Replies.Closed(subIdJson, refused));
            return;
        }
        try
        {
            using (await _stored.Slots.EnterAsync(heavy: false, conn.Aborted))
                conn.Send(Replies.Count(subIdJson, await db.CountAsync(filters, Now(),
                    policies.Private.HiddenFromCount(filters, conn.Session), conn.Session.WrittenUpTo, conn.Aborted)));
            health.Succeeded();
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            health.Failed(e, "a COUNT query");
            conn.Send(Replies.Closed(subIdJson, "error: could not run the query, try again later"));
        }
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}

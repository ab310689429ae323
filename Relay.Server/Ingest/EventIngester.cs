using System.Collections.Concurrent;
using System.Threading.Channels;
using Relay.Server.Configuration;
using Relay.Server.Observability;
using Relay.Server.Protocol;
using Relay.Server.Transport;
using Relay.Storage.Model;

namespace Relay.Server.Ingest;

/// An event on its way through verification and storage, and who to answer.
internal sealed record IngestJob(ClientConnection Connection, NostrEvent Event);

/// First stage for a parsed EVENT: policy checks that need no signature (size, time, expiry),
/// then dedupe against ids recently stored or in flight, so nothing is verified twice.
internal sealed class EventIngester(RelayOptions options, ChannelWriter<IngestJob> verifyQueue, RelayMetrics metrics)
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<bool>> _inFlight = new(StringComparer.Ordinal);
    private readonly RecentIds _recent = new(100_000);

    public async ValueTask SubmitAsync(ClientConnection conn, NostrEvent e)
    {
        metrics.EventsReceived.Increment();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string? rejection =
            e.Raw.Length > options.MaxEventBytes ? $"invalid: event is larger than {options.MaxEventBytes} bytes"
            : e.CreatedAt > now + options.MaxFutureSeconds ? "invalid: created_at is too far in the future"
            : e.Expiration is { } exp && exp <= now ? "invalid: event has expired"
            : null;
        if (rejection is not null)
        {
            metrics.EventsRejected.Increment();
            conn.Send(Replies.Ok(e.Id, false, rejection));
            return;
        }
        // The same id may already be on its way (another client re-broadcasting it, or a forged
        // copy with a bad signature). Wait for that copy's fate instead of guessing: "duplicate"
        // only once it is stored, otherwise this copy takes its turn.
        var mine = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        while (true)
        {
            if (_recent.Contains(e.Id))
            {
                metrics.EventsDuplicate.Increment();
                conn.Send(Replies.Ok(e.Id, true, "duplicate: already have this event"));
                return;
            }
            var current = _inFlight.GetOrAdd(e.Id, mine);
            if (current == mine) break;
            if (await current.Task.WaitAsync(conn.Aborted))
            {
                metrics.EventsDuplicate.Increment();
                conn.Send(Replies.Ok(e.Id, true, "duplicate: already have this event"));
                return;
            }
        }
        try
        {
            // A full queue makes this wait, which stops this connection's reads: back-pressure, no drops.
            await verifyQueue.WriteAsync(new IngestJob(conn, e), conn.Aborted);
        }
        catch (OperationCanceledException)
        {
            Done(e.Id, stored: false);   // the connection went away while waiting
            throw;
        }
        catch (ChannelClosedException)
        {
            Done(e.Id, stored: false);
            conn.Send(Replies.Ok(e.Id, false, "error: the relay is shutting down, try again later"));
        }
    }

    /// Called once the event's fate is known; <paramref name="stored"/> means it is in the
    /// database (new or duplicate). Copies of the same id waiting in SubmitAsync are released.
    public void Done(string id, bool stored)
    {
        if (stored) _recent.Add(id);
        if (_inFlight.TryRemove(id, out var waiting)) waiting.TrySetResult(stored);
    }
}

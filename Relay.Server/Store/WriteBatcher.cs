using System.Threading.Channels;
using Relay.Server.Fanout;
using Relay.Server.Ingest;
using Relay.Server.Observability;
using Relay.Server.Protocol;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server.Store;

/// A writer loop (RelayHost runs WRITE_CONNECTIONS of them, each on its own queue, see
/// WriteQueues): takes verified events in batches (up to N, or whatever arrives within T after
/// the first), writes each batch in one transaction, and only after the commit answers OK and
/// publishes to live subscribers. A failed batch answers every event in it.
internal sealed class WriteBatcher(
    ChannelReader<IngestJob> queue, EventWriter writer, IEventBus bus, EventIngester ingester,
    RelayMetrics metrics, RelayLog log, int maxBatch, TimeSpan maxDelay)
{
    private Task? _loop;

    public void Start() => _loop = Task.Run(RunAsync);

    private async Task RunAsync()
    {
        var batch = new List<IngestJob>(maxBatch);
        var events = new List<NostrEvent>(maxBatch);
        while (await queue.WaitToReadAsync())
        {
            while (batch.Count < maxBatch && queue.TryRead(out var job)) batch.Add(job);
            if (batch.Count < maxBatch && maxDelay > TimeSpan.Zero)
            {
                // Optionally let a burst fill the batch. Off by default: while one loop commits,
                // events pile up for the next, so batches grow with the load on their own.
                await Task.Delay(maxDelay);
                while (batch.Count < maxBatch && queue.TryRead(out var job)) batch.Add(job);
            }
            foreach (var j in batch) events.Add(j.Event);
            await WriteAsync(batch, events);
            batch.Clear();
            events.Clear();
        }
    }

    private async Task WriteAsync(List<IngestJob> batch, List<NostrEvent> events)
    {
        WriteOutcome[] outcomes;
        try
        {
            outcomes = await writer.WriteAsync(events);
        }
        catch (Exception first)
        {
            // One retry on a fresh connection covers a restarted database; then give up on this batch.
            try { outcomes = await writer.WriteAsync(events); }
            catch (Exception e)
            {
                log.WriteFailed(e.InnerException ?? first, batch.Count);
                foreach (var j in batch)
                {
                    ingester.Done(j.Event.Id, stored: false);
                    metrics.EventsRejected.Increment();
                    j.Connection.Send(Replies.Ok(j.Event.Id, false, "error: could not store the event, try again later"));
                }
                return;
            }
        }

        for (var i = 0; i < batch.Count; i++)
        {
            var (conn, e) = batch[i];
            switch (outcomes[i])
            {
                case WriteOutcome.Stored:
                    metrics.EventsStored.Increment();
                    ingester.Done(e.Id, stored: true);
                    conn.Send(Replies.Ok(e.Id, true, ""));
                    bus.Publish(e);
                    break;
                case WriteOutcome.Duplicate:
                    metrics.EventsDuplicate.Increment();
                    ingester.Done(e.Id, stored: true);
                    conn.Send(Replies.Ok(e.Id, true, "duplicate: already have this event"));
                    break;
                case WriteOutcome.Superseded:
                    metrics.EventsDuplicate.Increment();
                    ingester.Done(e.Id, stored: false);
                    conn.Send(Replies.Ok(e.Id, false, "duplicate: a newer version of this replaceable event is stored"));
                    break;
            }
        }
    }

    /// Returns once the queue is complete and drained, then releases the writer's connection.
    public async Task StopAsync()
    {
        if (_loop is not null) await _loop;
        await writer.DisposeAsync();
    }
}

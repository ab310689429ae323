using System.Threading.Channels;
using Relay.Server.Fanout;
using Relay.Server.HotTier;
using Relay.Server.Ingest;
using Relay.Server.Observability;
using Relay.Storage.Model;
using Relay.Storage.Postgres;

namespace Relay.Server.Store;

/// A writer loop (RelayHost runs WRITE_CONNECTIONS of them, each on its own queue, see
/// WriteQueues): takes verified events in batches (up to N, or whatever arrives within T after
/// the first), writes each batch in one transaction, and only after the commit answers OK and
/// publishes to live subscribers. A failed batch answers every event in it.
internal sealed class WriteBatcher(
    ChannelReader<IngestJob> queue, EventWriter writer, IEventBus bus, EventIngester ingester,
    RecentIds recent, RelayLog log, RelayMetrics metrics, DatabaseHealth health, int maxBatch, TimeSpan maxDelay, string? relayUrl,
    LatestCommit? latest = null, HotTierKeeper? tier = null)
{
    public const string SupersededMessage = "duplicate: a newer version of this replaceable event is stored";
    public const string DeletedMessage = "blocked: deleted by its author";

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
            var answered = new bool[batch.Count];
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            using var span = RelayMetrics.Tracing.StartActivity("write batch");
            span?.SetTag("relay.batch.events", batch.Count);
            try
            {
                await WriteAsync(batch, events, answered, span);
            }
            catch (Exception e)
            {
                // Our bug (or the bus): the loop goes on, and no event of the batch is left unanswered.
                log.WriteFailed(e, batch.Count);
                for (var i = 0; i < batch.Count; i++)
                    if (!answered[i]) ingester.Finish(batch[i], EventOutcome.Rejected, "error: could not store the event, try again later");
            }
            metrics.WriteBatchEvents.Record(batch.Count);
            metrics.WriteBatchSeconds.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            batch.Clear();
            events.Clear();
        }
    }

    private async Task WriteAsync(List<IngestJob> batch, List<NostrEvent> events, bool[] answered, System.Diagnostics.Activity? span)
    {
        WriteResult written;
        try
        {
            written = await writer.WriteWithDeletionsAsync(events);
        }
        catch (Exception)
        {
            // One retry on a fresh connection covers a restarted database; then give up on this batch.
            try { written = await writer.WriteWithDeletionsAsync(events); }
            catch (Exception e)
            {
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.Message);
                health.Failed(e, $"writing a batch of {batch.Count} event(s)");
                for (var i = 0; i < batch.Count; i++)
                {
                    answered[i] = true;
                    ingester.Finish(batch[i], EventOutcome.Rejected, "error: could not store the event, try again later");
                }
                return;
            }
        }
        health.Succeeded();
        var (outcomes, removed, position) = written;
        latest?.Advance(position);   // before any answer: a duplicate of this batch's events reads from here
        // Every sender in the batch reads from here on (read your own writes on replicas), whatever
        // its event's outcome: a duplicate or a superseded version still answers OK true.
        foreach (var job in batch) job.Source.Session.Wrote(position);
        // The hot tier takes what was stored before anyone hears of it: a sender's next REQ, which
        // the tier may answer, sees its own event, and no subscription is offered an event the
        // tier has not taken (the live fence).
        var stored = new List<NostrEvent>();
        List<NostrEvent>? duplicates = null;
        for (var i = 0; i < batch.Count; i++)
            if (outcomes[i] == WriteOutcome.Stored)
            {
                batch[i].Event.CommitSeq = position;
                stored.Add(batch[i].Event);
            }
            else if (outcomes[i] == WriteOutcome.Duplicate && tier is not null) (duplicates ??= []).Add(batch[i].Event);
        tier?.Take(stored);
        if (duplicates is not null) tier!.TakeStoredBefore(duplicates);
        for (var i = 0; i < batch.Count; i++)
        {
            var job = batch[i];
            answered[i] = true;
            switch (outcomes[i])
            {
                case WriteOutcome.Stored:
                    ingester.Finish(job, EventOutcome.Stored);
                    bus.Publish(job.Event);
                    break;
                case WriteOutcome.Duplicate:
                    ingester.Finish(job, EventOutcome.Duplicate);
                    break;
                case WriteOutcome.DeletedInBatch when DeletedEarlierInBatch(batch, i):
                    // Its author's request to delete it came first: as if it had been committed before.
                    ingester.Finish(job, EventOutcome.Rejected, DeletedMessage);
                    break;
                case WriteOutcome.Superseded when ReplacedLaterInBatch(batch, outcomes, i):
                case WriteOutcome.DeletedInBatch:
                    // Accepted in the order it was sent, then replaced or deleted by what came after
                    // it in the same batch: OK true, but nothing to deliver live.
                    ingester.Finish(job, EventOutcome.Stored);
                    break;
                case WriteOutcome.Superseded:
                    ingester.Finish(job, EventOutcome.Rejected, SupersededMessage);
                    break;
                case WriteOutcome.Deleted:
                    ingester.Finish(job, EventOutcome.Rejected, DeletedMessage);
                    break;
            }
        }
        // Deleted events are no longer "recently stored" (answering above may have just added
        // some): a copy sent again must reach the writer, which refuses it, instead of being
        // answered "duplicate" from memory.
        foreach (var id in removed) recent.Remove(Key32.Parse(id));
        if (span is not null)
        {
            span.SetTag("relay.batch.stored", outcomes.Count(o => o == WriteOutcome.Stored));
            span.SetTag("relay.batch.deleted", removed.Count);
        }
    }

    /// True if a request to delete this event (NIP-09 `e` or `a`, NIP-62) comes before it in the batch.
    private bool DeletedEarlierInBatch(List<IngestJob> batch, int i)
    {
        var e = batch[i].Event;
        for (var j = 0; j < i; j++)
            if (DeletionRequests.Deletes(batch[j].Event, e, relayUrl)) return true;
        return false;
    }

    /// True if a newer version of the same replaceable or addressable event comes later in the
    /// batch: then this one was current when it arrived (a client saving its profile twice).
    private static bool ReplacedLaterInBatch(List<IngestJob> batch, WriteOutcome[] outcomes, int i)
    {
        var e = batch[i].Event;
        for (var j = i + 1; j < batch.Count; j++)
        {
            var later = batch[j].Event;
            if (later.Kind == e.Kind && later.Pubkey == e.Pubkey && outcomes[j] == WriteOutcome.Stored
                && (e.Class != KindClass.Addressable || later.DTag == e.DTag)
                && (later.CreatedAt > e.CreatedAt || (later.CreatedAt == e.CreatedAt && string.CompareOrdinal(later.Id, e.Id) < 0)))
                return true;
        }
        return false;
    }

    /// Returns once the queue is complete and drained, then releases the writer's connection.
    public async Task StopAsync()
    {
        if (_loop is not null) await _loop;
        await writer.DisposeAsync();
    }
}

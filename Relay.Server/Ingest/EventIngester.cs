using System.Collections.Concurrent;
using Relay.Server.Observability;
using Relay.Server.Policies;
using Relay.Server.Verify;
using Relay.Storage.Model;

namespace Relay.Server.Ingest;

/// An event on its way through verification and storage, and who to answer.
internal sealed record IngestJob(IEventSource Source, NostrEvent Event);

/// First stage for a parsed EVENT: the write policies, in order (each may refuse it before any
/// signature check), then dedupe against ids recently stored or in flight, so nothing is
/// verified twice. Also the one place where an event's fate becomes its answer and metric.
internal sealed class EventIngester(WritePolicy[] policies, VerifyQueues verifyQueues, RecentIds recent, RelayMetrics metrics,
    Store.LatestCommit? latest = null)
{
    public const string DuplicateMessage = "duplicate: already have this event";

    private readonly ConcurrentDictionary<Key32, TaskCompletionSource<bool>> _inFlight = new();

    public async ValueTask SubmitAsync(IEventSource source, NostrEvent e)
    {
        metrics.EventsReceived.Increment();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        foreach (var policy in policies)
        {
            if (policy(e, source.Session, now) is not { } rejection) continue;
            metrics.Rejected(rejection);
            source.Answer(e.Id, false, rejection);
            return;
        }
        // The same id may already be on its way (another client re-broadcasting it, or a forged
        // copy with a bad signature). Wait for that copy's fate instead of guessing: "duplicate"
        // only once it is stored, otherwise this copy takes its turn.
        var mine = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        while (true)
        {
            var stored = recent.Contains(e.IdKey);
            if (!stored)
            {
                var current = _inFlight.GetOrAdd(e.IdKey, mine);
                if (current == mine) break;
                stored = await current.Task.WaitAsync(source.Aborted);
            }
            if (!stored) continue;
            // Known from memory: stored by this process at or below its latest commit (read your
            // own writes; the writer and the verifier's look-up set it for the duplicates they find).
            if (latest is not null) source.Session.Wrote(latest.Value);
            AnswerDuplicate(source, e.Id);
            return;
        }
        var job = new IngestJob(source, e);
        try
        {
            // A full queue makes this wait, which stops this sender's reads: back-pressure, no drops.
            await verifyQueues.WriteAsync(job, source.Aborted);
        }
        catch (OperationCanceledException)
        {
            Done(e.IdKey, stored: false);   // the sender went away while waiting
            throw;
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            Finish(job, EventOutcome.Rejected, "error: the relay is shutting down, try again later");
        }
    }

    /// The event's fate: answers its sender, counts it, and releases copies of the same id
    /// waiting in SubmitAsync. Every stage after this one ends an event here, exactly once.
    public void Finish(IngestJob job, EventOutcome outcome, string message = "")
    {
        var id = job.Event.Id;
        var key = job.Event.IdKey;
        switch (outcome)
        {
            case EventOutcome.Stored:
                metrics.EventsStored.Increment();
                Done(key, stored: true);
                job.Source.Answer(id, true, "");
                break;
            case EventOutcome.Duplicate:
                Done(key, stored: true);
                AnswerDuplicate(job.Source, id);
                break;
            case EventOutcome.Ephemeral:
                metrics.EventsEphemeral.Increment();
                Done(key, stored: false);
                job.Source.Answer(id, true, "");
                break;
            default:
                metrics.Rejected(message);
                Done(key, stored: false);
                job.Source.Answer(id, false, message);
                break;
        }
    }

    private void AnswerDuplicate(IEventSource source, string id)
    {
        metrics.EventsDuplicate.Increment();
        source.Answer(id, true, DuplicateMessage);
    }

    /// <paramref name="stored"/> means the event is in the database (new or duplicate).
    private void Done(Key32 id, bool stored)
    {
        if (stored) recent.Add(id);
        if (_inFlight.TryRemove(id, out var waiting)) waiting.TrySetResult(stored);
    }
}

using Relay.Server.Ingest;
using Relay.Storage.Model;

namespace Relay.Server.Store;

/// One queue per writer loop. Versions of one replaceable or addressable event always go to the
/// same writer, so two writers of this process never wait on each other's advisory lock for the
/// same key (with one shared queue they did, and ran one after the other much of the time);
/// every other event goes to its sender's writer, so one client's events (an event and the
/// deletion that follows it) take effect in the order they were sent.
internal sealed class WriteQueues(int writers, int capacityEach) : JobQueues(writers, capacityEach)
{
    public ValueTask WriteAsync(IngestJob job) => Writer(QueueFor(job)).WriteAsync(job);

    private int QueueFor(IngestJob job)
    {
        if (Count == 1) return 0;
        var e = job.Event;
        var cls = e.Class;
        if (cls is KindClass.Replaceable or KindClass.Addressable)
            return (int)((uint)HashCode.Combine(e.Pubkey, e.Kind, cls is KindClass.Addressable ? e.DTag : "") % (uint)Count);
        return QueueOf(job.Source);
    }
}

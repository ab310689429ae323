using Relay.Server.Ingest;

namespace Relay.Server.Verify;

/// One queue per verifier worker. A sender's events always go to the same worker, so they reach
/// the writers in the order they were sent (a profile saved twice quickly must end with the
/// second version); different senders spread over the workers.
internal sealed class VerifyQueues(int workers, int capacityEach) : JobQueues(workers, capacityEach)
{
    public ValueTask WriteAsync(IngestJob job, CancellationToken ct) => Writer(QueueOf(job.Source)).WriteAsync(job, ct);
}

namespace Relay.Server.Req;

/// Stored answers the relay holds for clients that are not reading them yet share one memory
/// budget (STORED_ANSWER_MEMORY_MB). A query never waits for a reader while it holds a query slot,
/// so without a budget, many clients that ask and never read would each park a whole answer here.
/// An answer that does not fit closes its connection as a slow reader.
internal sealed class HeldAnswers(long budgetBytes)
{
    private long _held;

    public long Held => Interlocked.Read(ref _held);

    public bool TryHold(int bytes)
    {
        if (Interlocked.Add(ref _held, bytes) <= budgetBytes) return true;
        Interlocked.Add(ref _held, -bytes);
        return false;
    }

    public void Release(int bytes) => Interlocked.Add(ref _held, -bytes);
}

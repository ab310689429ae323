using Relay.Server.Req;

namespace Relay.Tests.Req;

/// Heavy queries take all slots but one; cheap ones are never stuck behind them.
public sealed class QuerySlotsTests
{
    [Fact]
    public async Task Heavy_queries_leave_one_slot_for_cheap_ones_and_cheap_ones_pass_waiting_heavy_ones()
    {
        var slots = new QuerySlots(2);
        var heavy1 = await slots.EnterAsync(heavy: true, CancellationToken.None);
        var heavy2 = slots.EnterAsync(heavy: true, CancellationToken.None).AsTask();
        Assert.False(heavy2.IsCompleted);                       // the second slot is kept for cheap queries

        var cheap = await slots.EnterAsync(heavy: false, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        var cheap2 = slots.EnterAsync(heavy: false, CancellationToken.None).AsTask();
        Assert.False(cheap2.IsCompleted);                       // both slots in use

        cheap.Dispose();
        (await cheap2.WaitAsync(TimeSpan.FromSeconds(5))).Dispose();   // the freed slot goes to the cheap one,
        Assert.False(heavy2.IsCompleted);                       // not to the heavy one waiting longer
        heavy1.Dispose();
        (await heavy2.WaitAsync(TimeSpan.FromSeconds(5))).Dispose();
    }

    [Fact]
    public async Task A_cancelled_wait_gives_up_its_place()
    {
        var slots = new QuerySlots(1);
        var held = await slots.EnterAsync(heavy: false, CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var waiting = slots.EnterAsync(heavy: false, cts.Token).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        held.Dispose();
        (await slots.EnterAsync(heavy: false, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5))).Dispose();
    }
}

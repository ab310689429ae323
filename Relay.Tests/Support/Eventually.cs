namespace Relay.Tests.Support;

/// Waits for something another process does in its own time (a reconnect, a replica's replay).
internal static class Eventually
{
    public static async Task WaitForAsync(Func<Task<bool>> condition, string what, int seconds = 20)
    {
        for (var i = 0; i < seconds * 10; i++)
        {
            if (await condition()) return;
            await Task.Delay(100);
        }
        Assert.Fail($"timed out waiting for {what}");
    }
}

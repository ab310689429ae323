namespace Relay.Tests.Support;

/// A test that needs root (it mounts a file system): reported as skipped, with the reason, for
/// anyone else. scripts/test runs as root (it installs packages), so CI always runs it.
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (Environment.UserName != "root") Skip = "needs root: it mounts a small tmpfs to fill";
    }
}

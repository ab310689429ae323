using System.Runtime.InteropServices;

namespace Relay.Server.Transport;

/// Every connection is a file descriptor. Linux starts processes with a soft limit (often 1,024)
/// far below MAX_CONNECTIONS; past it, accept fails (EMFILE) and clients hang unanswered. At
/// start-up the soft limit is raised to the hard one, and connections are capped below what it
/// allows, leaving room for the database pool, Redis and files.
internal static partial class OpenFileLimit
{
    private const int RlimitNofile = 7;   // <sys/resource.h> on Linux
    /// Descriptors kept for everything that is not a client connection.
    public const int Reserve = 128;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit { public ulong Current, Max; }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in RLimit limit);

    /// Raises the soft limit as far as allowed; returns the limit in force (null if unknown).
    public static ulong? Raise()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            if (getrlimit(RlimitNofile, out var l) != 0) return null;
            if (l.Current < l.Max)
            {
                var raised = l with { Current = l.Max };
                if (setrlimit(RlimitNofile, raised) == 0) return l.Max;
            }
            return l.Current;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// MAX_CONNECTIONS, lowered to fit the open-file limit; says why when it lowers it.
    public static int Cap(int maxConnections, ulong? limit, Action<string> warn)
    {
        if (limit is not { } l || l >= (ulong)maxConnections + Reserve) return maxConnections;
        var cap = (int)Math.Max(16, (long)l - Reserve);
        warn($"the open-file limit is {l}, so at most {cap} connections are accepted (MAX_CONNECTIONS is {maxConnections}); raise it with `ulimit -n` or the container's nofile limit");
        return cap;
    }
}

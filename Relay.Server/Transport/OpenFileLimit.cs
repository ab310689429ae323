using System.Runtime.InteropServices;

namespace Relay.Server.Transport;

/// Every connection is a file descriptor. Linux starts processes with a soft limit (often 1,024)
/// far below MAX_CONNECTIONS; past it, accept fails (EMFILE) and clients hang unanswered. At
/// start-up the soft limit is raised to the hard one, and connections are capped below what it
/// allows, leaving room for what is already open (the runtime, logs), the database pool and Redis.
internal static partial class OpenFileLimit
{
    private const int RlimitNofile = 7;   // <sys/resource.h> on Linux
    /// Descriptors kept for what opens later and is not a client connection (Redis, the spare
    /// descriptor the listener keeps, files), beyond the database pool and what is open at start.
    public const int Reserve = 64;

    /// Descriptors this process has open now (the runtime's own, logs, listening socket).
    public static int OpenNow()
    {
        try { return Directory.GetFiles("/proc/self/fd").Length; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 64; }
    }

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

    /// MAX_CONNECTIONS, lowered to fit the open-file limit next to <paramref name="otherFiles"/>
    /// (open now, plus the database pool); says why when it lowers it.
    public static int Cap(int maxConnections, ulong? limit, int otherFiles, Action<string> warn)
    {
        var reserve = (ulong)(otherFiles + Reserve);
        if (limit is not { } l || l >= (ulong)maxConnections + reserve) return maxConnections;
        var cap = (int)Math.Max(16, (long)l - (long)reserve);
        warn($"the open-file limit is {l}, so at most {cap} connections are accepted (MAX_CONNECTIONS is {maxConnections}); raise it with `ulimit -n` or the container's nofile limit");
        return cap;
    }
}

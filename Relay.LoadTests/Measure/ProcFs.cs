using System.Globalization;

namespace Relay.LoadTests.Measure;

/// What Linux's /proc tells about the relay process and our own sockets.
internal static class ProcFs
{
    /// Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every Linux we run on).
    private const double UserHz = 100.0;

    public static bool Exists(int pid) => Directory.Exists($"/proc/{pid}");

    public static string ProcessName(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim(); }
        catch (IOException) { return "?"; }
    }

    /// VmRSS in KiB, or -1 when the process is gone.
    public static long RssKiB(int pid) => StatusKiB(pid, "VmRSS:");

    public static long StatusKiB(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                var parts = line[field.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return -1;
    }

    /// User + system CPU seconds the process has used, or NaN when it is gone.
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may contain spaces: count fields after its closing ')'.
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
            return (long.Parse(rest[11], CultureInfo.InvariantCulture) + long.Parse(rest[12], CultureInfo.InvariantCulture)) / UserHz;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return double.NaN;
        }
    }

    /// The soft "Max open files" limit of a process (ours by default), or -1 if unreadable.
    /// .NET raises its own soft limit to the hard limit at start-up, so for us this is the hard limit.
    public static long OpenFileLimit(string pid = "self")
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal)) continue;
                var parts = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts[0] == "unlimited" ? long.MaxValue : long.Parse(parts[0], CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return -1;
    }

    /// TCP sockets on this machine with `port` at either end, from /proc/net/tcp and tcp6: both
    /// our client sockets (remote = port) and the relay's accepted ones (local = port), so the
    /// relay's side of a connection can be watched without reading from ours. State is the
    /// kernel's code: 01 ESTABLISHED, 04 FIN_WAIT1 (closed, data or FIN still queued), 08 CLOSE_WAIT, …
    public static List<TcpSocket> TcpSockets(int port)
    {
        var list = new List<TcpSocket>();
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            try
            {
                foreach (var line in File.ReadLines(file).Skip(1))
                {
                    var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (f.Length < 5) continue;
                    var lport = HexPort(f[1]);
                    var rport = HexPort(f[2]);
                    if (lport != port && rport != port) continue;
                    var queues = f[4];
                    var colon = queues.IndexOf(':', StringComparison.Ordinal);
                    list.Add(new TcpSocket(lport, rport,
                        int.Parse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                        long.Parse(queues.AsSpan(0, colon), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                        long.Parse(queues.AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
                }
            }
            catch (Exception e) when (e is IOException or FormatException or OverflowException or ArgumentOutOfRangeException) { }
        }
        return list;
    }

    private static int HexPort(string endpoint) =>
        int.Parse(endpoint.AsSpan(endpoint.LastIndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    public static string TcpStateName(int state) => state switch
    {
        1 => "ESTABLISHED",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        _ => $"state {state:X2}",
    };
}

internal readonly record struct TcpSocket(int LocalPort, int RemotePort, int State, long TxQueue, long RxQueue)
{
    public const int Established = 1;
}
